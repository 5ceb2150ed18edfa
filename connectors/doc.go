// Package connectors holds the pipeline's two ways of moving data between
// its databases and Kafka, and what keeps them equal: the Go-native
// connectors (cdc, the MySQL/MariaDB CDC source; mongosink, the MongoDB
// sink), and the Kafka Connect configurations that do the same job with
// Debezium and the MongoDB connector (connect/ for a self-managed worker,
// cloud/ for Confluent Cloud's fully-managed connectors). The tests of this
// package check those configurations against the Go code. See README.md
// here.
package connectors
