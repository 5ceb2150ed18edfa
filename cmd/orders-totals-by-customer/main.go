// Command orders-totals-by-customer keeps each customer's running order
// total. See package processors/totals for the topology; --help for flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/internal/app"
	"github.com/orderstream/pipeline/internal/service"
)

func main() {
	service.Exit("orders-totals-by-customer", app.Main("orders-totals-by-customer",
		"orders-totals-by-customer: sums each customer's orders, exactly once, and publishes the totals.",
		&app.Totals{}, os.Args[1:]))
}
