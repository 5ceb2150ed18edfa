// Command orders-details joins orders with customers and products.
// See package processors/details for the topology; --help for the flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/internal/app"
	"github.com/orderstream/pipeline/internal/service"
)

func main() {
	service.Exit("orders-details", app.Main("orders-details",
		"orders-details: joins each order with its customer and product (Goka Lookup tables) and writes order-details.",
		&app.Details{}, os.Args[1:]))
}
