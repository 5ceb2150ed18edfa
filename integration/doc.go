// Package integration runs the pipeline end to end: orders-producer,
// orders-details and orders-totals-by-customer against an in-process Kafka
// (kfake) and a real Apache Kafka broker, with customers and products
// loaded from MariaDB, and checks the totals against a sum computed
// independently from the orders topic. The crash tests SIGKILL the
// processors' binaries mid-stream.
package integration
