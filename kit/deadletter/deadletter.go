// Package deadletter describes a record that could not be processed, in the
// headers Kafka Connect writes on its dead-letter queues
// (errors.deadletterqueue.context.headers.enable=true), so that the same
// tooling reads the DLQs of our services and of Connect. The value is the
// original record value, byte for byte.
package deadletter

import (
	"fmt"
	"strconv"

	"github.com/lovoo/goka"
)

// Header names, as Kafka Connect's DeadLetterQueueReporter writes them.
const (
	HeaderTopic            = "__connect.errors.topic"
	HeaderPartition        = "__connect.errors.partition"
	HeaderOffset           = "__connect.errors.offset"
	HeaderConnector        = "__connect.errors.connector.name"
	HeaderStage            = "__connect.errors.stage"
	HeaderExceptionClass   = "__connect.errors.exception.class.name"
	HeaderExceptionMessage = "__connect.errors.exception.message"
)

// Stages of our processing where a record can fail.
const (
	StageDecode   = "VALUE_CONVERTER" // the value is not a record we can read
	StageValidate = "VALIDATE"        // it decodes but breaks a rule (key, quantity, ...)
	StageJoin     = "JOIN"            // its customer or product stayed missing through every retry
	StageState    = "STATE"           // our own stored state for its key cannot be read
)

// Record is where a failed record came from and why it failed.
type Record struct {
	Service   string // e.g. orders-details
	Topic     string
	Partition int32
	Offset    int64
	Stage     string
	Err       error
}

// Headers returns the record's description as Kafka headers.
func (r Record) Headers() goka.Headers {
	return goka.Headers{
		HeaderTopic:            []byte(r.Topic),
		HeaderPartition:        []byte(strconv.FormatInt(int64(r.Partition), 10)),
		HeaderOffset:           []byte(strconv.FormatInt(r.Offset, 10)),
		HeaderConnector:        []byte(r.Service),
		HeaderStage:            []byte(r.Stage),
		HeaderExceptionClass:   []byte(fmt.Sprintf("%T", r.Err)),
		HeaderExceptionMessage: []byte(r.Err.Error()),
	}
}
