package mongosink

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	recordsConsumed = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "mongo_sink", Name: "records_consumed_total",
		Help: "Records read from the totals topic (every record, including tombstones and bad ones).",
	})
	documentsUpserted = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "mongo_sink", Name: "documents_upserted_total",
		Help: "Documents replaced or inserted (ReplaceOne upsert) and acknowledged by MongoDB.",
	})
	documentsDeleted = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "mongo_sink", Name: "documents_deleted_total",
		Help: "Deletes by _id for tombstones, acknowledged by MongoDB (whether or not the document existed).",
	})
	writeRetries = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "mongo_sink", Name: "write_retries_total",
		Help: "Failed MongoDB write attempts that are retried (MongoDB unreachable, timeouts, server errors).",
	})
	deadLettered = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "mongo_sink", Name: "dead_lettered_total",
		Help: "Records written to the dead-letter topic, by stage (VALUE_CONVERTER, VALIDATE, TASK_PUT).",
	}, []string{"stage"})
)

// Stats are one sink's counters (the Prometheus counters add up every sink
// of the process).
type Stats struct {
	Consumed     int64 // records read
	Upserted     int64 // documents replaced or inserted
	Deleted      int64 // documents deleted (tombstones)
	WriteRetries int64 // failed write attempts
	DeadLettered int64 // records sent to the dead-letter topic
	Commits      int64 // successful offset commits
}

type stats struct {
	consumed, upserted, deleted, writeRetries, deadLettered, commits atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{
		Consumed: s.consumed.Load(), Upserted: s.upserted.Load(), Deleted: s.deleted.Load(),
		WriteRetries: s.writeRetries.Load(), DeadLettered: s.deadLettered.Load(), Commits: s.commits.Load(),
	}
}
