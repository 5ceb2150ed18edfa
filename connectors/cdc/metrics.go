package cdc

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	snapshotRows = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "cdc", Name: "snapshot_rows_total",
		Help: "Rows read by snapshots, by topic.",
	}, []string{"topic"})
	binlogRows = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "cdc", Name: "binlog_rows_total",
		Help: "Row changes read from the binlog, by topic and operation.",
	}, []string{"topic", "op"})
	deadLettered = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "cdc", Name: "dead_lettered_total",
		Help: "Rows that did not fit their schema, written to the dead-letter topic.",
	})
	lagSeconds = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: "orderstream", Subsystem: "cdc", Name: "binlog_lag_seconds",
		Help: "How far behind the server the source reads: now minus the time of the change last read, 0 once the server's heartbeat says everything is read.",
	})
	schemaChanges = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "cdc", Name: "schema_changes_total",
		Help: "New value schema versions registered because a table gained columns, by topic.",
	}, []string{"topic"})
	offsetsSaved = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "cdc", Name: "offsets_saved_total",
		Help: "Binlog positions saved to the offsets topic.",
	})
)
