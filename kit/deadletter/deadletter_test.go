package deadletter

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

type component struct{}

func (c *component) fail(r Record) map[string]string {
	out := map[string]string{}
	for k, v := range r.Headers() {
		out[k] = string(v)
	}
	return out
}

type decodeError struct{ field string }

func (e *decodeError) Error() string { return "field " + e.field + " does not decode" }

// TestAllTenHeaders: every header Kafka Connect 4.1.1's
// DeadLetterQueueReporter writes (its ERROR_HEADER_* constants), with
// values that say something.
func TestAllTenHeaders(t *testing.T) {
	connect := []string{ // DeadLetterQueueReporter.ERROR_HEADER_*, in its order
		"__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
		"__connect.errors.connector.name", "__connect.errors.task.id", "__connect.errors.stage",
		"__connect.errors.class.name", "__connect.errors.exception.class.name",
		"__connect.errors.exception.message", "__connect.errors.exception.stacktrace",
	}
	if fmt.Sprint(HeaderNames) != fmt.Sprint(connect) {
		t.Fatalf("HeaderNames %v, want Connect's %v", HeaderNames, connect)
	}
	cause := &decodeError{"amount"}
	err := fmt.Errorf("orders/3@42: %w", errors.Join(cause, os.ErrDeadlineExceeded))
	h := (&component{}).fail(Record{Service: "orders-details", Topic: "orders", Partition: 3, Offset: 42, Stage: StageDecode, Err: err})
	if len(h) != 10 {
		t.Fatalf("%d headers, want 10: %v", len(h), h)
	}
	want := map[string]string{
		HeaderTopic: "orders", HeaderPartition: "3", HeaderOffset: "42", HeaderConnector: "orders-details",
		HeaderTaskID: "3", HeaderStage: "VALUE_CONVERTER",
		HeaderClass:            "github.com/orderstream/pipeline/kit/deadletter.component",
		HeaderExceptionClass:   "github.com/orderstream/pipeline/kit/deadletter.decodeError",
		HeaderExceptionMessage: err.Error(),
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
	trace := strings.Split(h[HeaderStacktrace], "\n")
	wantTrace := []string{
		"fmt.wrapError: " + err.Error(),
		"Caused by: errors.joinError: field amount does not decode\ni/o timeout",
		"Caused by: github.com/orderstream/pipeline/kit/deadletter.decodeError: field amount does not decode",
		"Caused by: internal/poll.DeadlineExceededError: i/o timeout",
	}
	if got := strings.Join(trace, "\n"); got != strings.Join(wantTrace, "\n") {
		t.Errorf("stacktrace:\n%s\nwant:\n%s", got, strings.Join(wantTrace, "\n"))
	}

	// Given explicitly.
	h = (&component{}).fail(Record{Service: "s", Topic: "t", Stage: StageValidate, Err: errors.New("bad"), TaskID: "host-1", Class: ClassOf(&decodeError{})})
	if h[HeaderTaskID] != "host-1" || h[HeaderClass] != "github.com/orderstream/pipeline/kit/deadletter.decodeError" {
		t.Errorf("explicit task.id/class.name not kept: %v", h)
	}
	if h[HeaderExceptionClass] != "errors.errorString" || h[HeaderStacktrace] != "errors.errorString: bad" {
		t.Errorf("a plain error: %q %q", h[HeaderExceptionClass], h[HeaderStacktrace])
	}
}

func TestFuncClass(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/o/p/connectors/cdc.(*Source).deadLetter":        "github.com/o/p/connectors/cdc.Source",
		"github.com/o/p/processors/totals.(*Aggregator).deadLetter": "github.com/o/p/processors/totals.Aggregator",
		"github.com/o/p/x.T.m":          "github.com/o/p/x.T",
		"github.com/o/p/x.helper":       "github.com/o/p/x.helper",
		"github.com/o/p/x.helper.func1": "github.com/o/p/x.helper",
		"main.main":                     "main.main",
	} {
		if got := funcClass(in); got != want {
			t.Errorf("funcClass(%q) = %q, want %q", in, got, want)
		}
	}
}
