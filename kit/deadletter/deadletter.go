// Package deadletter describes a record that could not be processed, in the
// ten headers Kafka Connect's DeadLetterQueueReporter writes on its
// dead-letter queues (errors.deadletterqueue.context.headers.enable=true),
// so that the same tooling reads the DLQs of our services and of Connect.
// The value is the original record value, byte for byte.
//
//	header                                  Connect                              here
//	__connect.errors.topic                  the record's topic                   the same ("binlog:<file>" for the CDC source)
//	__connect.errors.partition              its partition                        the same
//	__connect.errors.offset                 its offset                           the same (the binlog position for the CDC source)
//	__connect.errors.connector.name         the connector                        the service (its consumer group or connector name)
//	__connect.errors.task.id                the task's number                    the partition: a Goka partition processor, or the
//	                                                                             sink's per-partition work, is our unit of work as a
//	                                                                             task is Connect's (0 for the CDC source, one task)
//	__connect.errors.stage                  VALUE_CONVERTER, TRANSFORMATION, ...  VALUE_CONVERTER, VALIDATE, JOIN, STATE, TASK_PUT
//	__connect.errors.class.name             the class running the stage          the Go type (package path and name) that ran it:
//	                                                                             Record.Class, else the type whose method called Headers
//	__connect.errors.exception.class.name   the exception's class                the error's Go type: the first in its chain that is
//	                                                                             not a plain wrapper (fmt.Errorf, errors.Join)
//	__connect.errors.exception.message      its message                          the error's message
//	__connect.errors.exception.stacktrace   its stack trace                      the error chain, one "Caused by:" line per wrapped
//	                                                                             error, as Java prints causes
package deadletter

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"

	"github.com/lovoo/goka"
)

// Header names, as Kafka Connect's DeadLetterQueueReporter writes them.
const (
	HeaderTopic            = "__connect.errors.topic"
	HeaderPartition        = "__connect.errors.partition"
	HeaderOffset           = "__connect.errors.offset"
	HeaderConnector        = "__connect.errors.connector.name"
	HeaderTaskID           = "__connect.errors.task.id"
	HeaderStage            = "__connect.errors.stage"
	HeaderClass            = "__connect.errors.class.name"
	HeaderExceptionClass   = "__connect.errors.exception.class.name"
	HeaderExceptionMessage = "__connect.errors.exception.message"
	HeaderStacktrace       = "__connect.errors.exception.stacktrace"
)

// HeaderNames are all ten, in the order Connect writes them.
var HeaderNames = []string{HeaderTopic, HeaderPartition, HeaderOffset, HeaderConnector, HeaderTaskID,
	HeaderStage, HeaderClass, HeaderExceptionClass, HeaderExceptionMessage, HeaderStacktrace}

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
	// TaskID is what processed it (default: the partition).
	TaskID string
	// Class is the Go type that ran the stage (ClassOf); default: the
	// type (or package function) that called Headers.
	Class string
}

// Headers returns the record's description as Kafka headers: all ten.
func (r Record) Headers() goka.Headers {
	task := r.TaskID
	if task == "" {
		task = strconv.FormatInt(int64(r.Partition), 10)
	}
	class := r.Class
	if class == "" {
		class = caller()
	}
	err := r.Err
	if err == nil {
		err = errors.New("no error given")
	}
	return goka.Headers{
		HeaderTopic:            []byte(r.Topic),
		HeaderPartition:        []byte(strconv.FormatInt(int64(r.Partition), 10)),
		HeaderOffset:           []byte(strconv.FormatInt(r.Offset, 10)),
		HeaderConnector:        []byte(r.Service),
		HeaderTaskID:           []byte(task),
		HeaderStage:            []byte(r.Stage),
		HeaderClass:            []byte(class),
		HeaderExceptionClass:   []byte(ErrorClass(err)),
		HeaderExceptionMessage: []byte(err.Error()),
		HeaderStacktrace:       []byte(Chain(err)),
	}
}

// ClassOf names v's type as class.name does: package path and type name
// ("github.com/orderstream/pipeline/processors/details.Joiner"), pointers
// dereferenced.
func ClassOf(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "<nil>"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == "" || t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

// ErrorClass is the Go type of err that says what failed: the first error
// in its chain that is not a plain wrapper (fmt.Errorf's, errors.Join's),
// else err's own.
func ErrorClass(err error) string {
	for e := err; e != nil; {
		if !plainWrapper(e) {
			return ClassOf(e)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				e = errs[0]
			} else {
				e = nil
			}
		default:
			e = nil
		}
	}
	return ClassOf(err)
}

// plainWrapper: fmt's and errors' own types, which only carry a message or
// wrap another error.
func plainWrapper(err error) bool {
	switch ClassOf(err) {
	case "fmt.wrapError", "fmt.wrapErrors", "errors.joinError", "errors.errorString":
		return true
	}
	return false
}

// Chain is err and what it wraps, one error per line as Java prints a
// cause chain: "<type>: <message>", then "Caused by: <type>: <message>"
// for each wrapped error (each of errors.Join's, in turn).
func Chain(err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", ClassOf(err), err.Error())
	var walk func(e error, depth int)
	walk = func(e error, depth int) {
		if depth > 32 {
			return
		}
		var next []error
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				next = []error{w}
			}
		case interface{ Unwrap() []error }:
			next = u.Unwrap()
		}
		for _, n := range next {
			fmt.Fprintf(&b, "\nCaused by: %s: %s", ClassOf(n), n.Error())
			walk(n, depth+1)
		}
	}
	walk(err, 0)
	return b.String()
}

// caller names the type (or the package function) that called Headers.
func caller() string {
	pcs := make([]uintptr, 1)
	if runtime.Callers(3, pcs) == 0 {
		return "unknown"
	}
	f, _ := runtime.CallersFrames(pcs).Next()
	return funcClass(f.Function)
}

// funcClass turns a function's name into its receiver type's:
// "example.com/p.(*T).m" is "example.com/p.T", "example.com/p.f" stays.
func funcClass(fn string) string {
	slash := strings.LastIndexByte(fn, '/') + 1
	pkg, rest, ok := strings.Cut(fn[slash:], ".")
	if !ok {
		return fn
	}
	pkg = fn[:slash] + pkg
	if strings.HasPrefix(rest, "(") {
		if end := strings.IndexByte(rest, ')'); end > 0 {
			return pkg + "." + strings.TrimPrefix(rest[1:end], "*")
		}
	}
	if recv, _, ok := strings.Cut(rest, "."); ok && !strings.HasPrefix(recv, "func") {
		return pkg + "." + recv // a value receiver: p.T.m
	}
	return pkg + "." + strings.TrimSuffix(rest, ".func1")
}
