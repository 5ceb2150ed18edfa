// Command orders-details joins orders with customers and products.
// See package processors/details for the topology; --help for the flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

func main() { frame.Exit("orders-details", services.Main("orders-details", os.Args[1:])) }
