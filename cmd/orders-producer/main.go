// Command orders-producer writes random orders for the customers and
// products in MySQL to the orders topic. See package producer; --help for
// the flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

func main() { frame.Exit("orders-producer", services.Main("orders-producer", os.Args[1:])) }
