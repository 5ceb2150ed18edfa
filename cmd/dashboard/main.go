// Command dashboard serves the pipeline's live dashboard (package
// dashboard) in front of the separate binaries: it reads their /metrics
// and /readyz (--services, by default every service of services.Table at
// its default --http.addr) and Kafka. --help for the flags.
package main

import (
	"os"

	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

func main() { frame.Exit("dashboard", services.DashboardMain(os.Args[1:])) }
