// Command mongo-sink writes each customer's latest total from the
// customer-totals topic to MongoDB, one document per customer. See package
// connectors/mongosink for the design and the Kafka Connect settings it
// stands for; --help for the flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

func main() { frame.Exit("mongo-sink", services.Main("mongo-sink", os.Args[1:])) }
