package totals

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	records = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "totals", Name: "records_total",
		Help: "order-details records by what they did to the totals: counted, duplicate, deferred, dropped, settled.",
	}, []string{"outcome"})
	deadLettered = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "totals", Name: "dead_lettered_total",
		Help: "Records written to the dead-letter topic, by stage.",
	}, []string{"stage"})
	latency = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: "orderstream", Subsystem: "totals", Name: "order_to_total_seconds",
		Help:    "Time from an order's created_at to its total being updated.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
)
