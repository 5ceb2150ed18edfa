// Command orders-producer writes random orders for the customers and
// products in MySQL to the orders topic. See package producer; --help for
// the flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/internal/app"
	"github.com/orderstream/pipeline/internal/service"
)

func main() {
	service.Exit("orders-producer", app.Main("orders-producer",
		"orders-producer: writes random orders for the customers and products in MySQL to the orders topic.",
		&app.Producer{}, os.Args[1:]))
}
