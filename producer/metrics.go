package producer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	ordersProduced = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "producer", Name: "orders_produced_total",
		Help: "Orders handed to the Kafka client.",
	})
	ordersAcked = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "producer", Name: "orders_acked_total",
		Help: "Orders acknowledged by Kafka (acks=all).",
	})
	produceErrors = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: "orderstream", Subsystem: "producer", Name: "produce_errors_total",
		Help: "Orders Kafka did not take (the producer stops at the first).",
	})
	catalogSize = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "orderstream", Subsystem: "producer", Name: "catalog_rows",
		Help: "Customers and products orders are made of.",
	}, []string{"table"})
)
