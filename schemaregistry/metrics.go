package schemaregistry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var registrations = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: "orderstream", Subsystem: "schema_registry", Name: "registrations_total",
	Help: "Schema registrations by outcome: new (a version written), existing (already registered), incompatible (refused, 409), invalid (422).",
}, []string{"outcome"})
