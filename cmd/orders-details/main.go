// Command orders-details joins orders with customers and products.
// See package processors/details for the topology; --help for the flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

func main() {
	frame.Exit("orders-details", services.Main("orders-details",
		"orders-details: joins each order with its customer and product (Goka Lookup tables) and writes order-details.",
		&services.Details{}, os.Args[1:]))
}
