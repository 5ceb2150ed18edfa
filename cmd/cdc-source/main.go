// Command cdc-source captures shop.customers and shop.products from the
// MySQL/MariaDB binlog into the customers and products topics. See package
// connectors/cdc; --help for the flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

func main() { frame.Exit("cdc-source", services.Main("cdc-source", os.Args[1:])) }
