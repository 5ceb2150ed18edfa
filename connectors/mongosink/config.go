package mongosink

// Defaults of the MongoDB sink; the Kafka Connect configurations
// (connectors/cloud, connectors/connect) use the same names.
const (
	DefaultTopic      = "customer-totals"
	DefaultDatabase   = "orderstream"
	DefaultCollection = "customer_totals"
	DefaultGroup      = "mongo-sink"
	DefaultDLQ        = "mongo-sink-dlq"
)
