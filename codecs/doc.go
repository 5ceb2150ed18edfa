// Package codecs turns the pipeline's records into bytes and back: Avro in
// Confluent's wire format (magic byte 0, 4-byte schema id, Avro body) with
// the schemas of package avro registered in a Confluent Schema Registry
// (Registry caches what it fetches), decoding records written with any
// registered version by resolving them onto ours (Debezium's record names
// included); Lenient, which hands a Goka callback a decoding error instead
// of stopping the processor; typed errors that tell a bad record (dead-letter
// it) from an unreachable registry (retry); and the record key format (Key).
package codecs
