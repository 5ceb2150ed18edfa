// Command orders-totals-by-customer keeps each customer's running order
// total. See package processors/totals for the topology; --help for flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

func main() {
	frame.Exit("orders-totals-by-customer", services.Main("orders-totals-by-customer", os.Args[1:]))
}
