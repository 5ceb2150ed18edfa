package testkit

import (
	"context"
	"time"

	"github.com/lovoo/goka"
)

// GokaContext is a goka.Context for calling a processor's callback
// directly, in situations Goka's tester cannot produce: its Fail returns
// (as Goka's does during a rebalance or shutdown) instead of stopping the
// processor, and it records what the callback did.
type GokaContext struct {
	unset // methods not below panic

	Ctx                              context.Context
	TopicName                        goka.Stream
	GroupName                        goka.Group
	KeyValue                         string
	PartitionNo                      int32
	OffsetNo                         int64
	Time                             time.Time
	HeaderValues                     goka.Headers
	Stored                           any                           // what Value returns
	Tables                           map[goka.Table]map[string]any // what Lookup returns
	Emitted                          []Emitted
	Set                              []any
	Failed                           []error
	Deferred, DeferredFailed, Commit int // DeferCommit calls, of them finished with an error, with nil
}

type unset struct{ goka.Context }

// Emitted is one Emit of a callback.
type Emitted struct {
	Topic goka.Stream
	Key   string
	Value any
}

func (c *GokaContext) Topic() goka.Stream       { return c.TopicName }
func (c *GokaContext) Key() string              { return c.KeyValue }
func (c *GokaContext) Partition() int32         { return c.PartitionNo }
func (c *GokaContext) Offset() int64            { return c.OffsetNo }
func (c *GokaContext) Group() goka.Group        { return c.GroupName }
func (c *GokaContext) Value() any               { return c.Stored }
func (c *GokaContext) Headers() goka.Headers    { return c.HeaderValues }
func (c *GokaContext) Timestamp() time.Time     { return c.Time }
func (c *GokaContext) Context() context.Context { return c.Ctx }
func (c *GokaContext) Fail(err error)           { c.Failed = append(c.Failed, err) }

func (c *GokaContext) SetValue(v any, _ ...goka.ContextOption) { c.Set = append(c.Set, v) }

func (c *GokaContext) Emit(t goka.Stream, key string, v any, _ ...goka.ContextOption) {
	c.Emitted = append(c.Emitted, Emitted{t, key, v})
}

func (c *GokaContext) DeferCommit() func(error) {
	c.Deferred++
	return func(err error) {
		if err != nil {
			c.DeferredFailed++
		} else {
			c.Commit++
		}
	}
}
