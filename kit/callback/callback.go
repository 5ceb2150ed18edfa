// Package callback holds what the callbacks of Goka processors share: how
// to stop for a failure that is not the record's fault.
package callback

import "github.com/lovoo/goka"

// Stop fails the processor for err, a failure that is not the record's
// fault (the schema registry cannot be reached, stored state cannot be
// read): the record is neither committed nor dead-lettered, and is read
// again once the processor restarts. The caller must return at once and
// emit nothing more.
//
// Goka's ctx.Fail panics only while the partition runs; during a rebalance
// or a shutdown it records the error and returns, and when the callback
// then returns Goka commits the record as processed. Stop first holds the
// commit back with a deferred commit finished with err, then calls Fail.
func Stop(ctx goka.Context, err error) {
	ctx.DeferCommit()(err)
	ctx.Fail(err)
}
