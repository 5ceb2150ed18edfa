package details

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	ordersJoined = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "details", Name: "orders_joined_total",
		Help: "Orders joined with their customer and product and written to order-details.",
	})
	ordersJoinedAfterRetry = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "details", Name: "orders_joined_after_retry_total",
		Help: "Orders joined on a retry (their customer or product was missing at first).",
	})
	ordersRetried = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "details", Name: "orders_retried_total",
		Help: "Join attempts that found no customer or product and scheduled a retry.",
	})
	deadLettered = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "details", Name: "dead_lettered_total",
		Help: "Records written to the dead-letter topic, by stage (VALUE_CONVERTER, VALIDATE, JOIN).",
	}, []string{"stage"})
)
