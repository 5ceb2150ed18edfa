// Command schema-registry is a schema registry with Confluent's REST API
// for the separate binaries (make run has one in process): schemas in a
// compacted topic (_schemas) on the Kafka it is pointed at, ids stable
// across restarts and across instances on one topic, BACKWARD
// compatibility enforced (an incompatible version is refused with HTTP
// 409). See package schemaregistry; --help for the flags.
//
//	schema-registry --bootstrap.servers 127.0.0.1:9092 --listeners http://127.0.0.1:8081
//
// It serves the API, /healthz (200 once the journal is read, 503 while it
// cannot be) and /metrics on --listeners. When Kafka cannot be reached it
// keeps trying with backoff, answering 503 meanwhile; SIGINT or SIGTERM
// stops it gracefully.
package main

import (
	"os"

	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

func main() { frame.Exit("schema-registry", Main(os.Args[1:])) }

// Main runs the registry with args until SIGINT/SIGTERM.
func Main(args []string) error { return services.RegistryMain(args) }
