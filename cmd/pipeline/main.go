// Command pipeline runs the whole pipeline on one machine, in one process:
// an in-process Kafka, schema registry and MongoDB-wire server, the CDC
// source, orders-producer, orders-details, orders-totals-by-customer and the
// MongoDB sink, with the Goka web monitor, against the private MariaDB of
// scripts/mariadb.sh. `make run` starts it; --help for the flags.
package main

import (
	"flag"
	"os"
	"time"

	"github.com/orderstream/pipeline/dev/stack"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/services/frame"
)

func main() { frame.Exit("pipeline", Main(os.Args[1:])) }

// Main runs the stack with args.
func Main(args []string) error {
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	fs.Usage = config.Usage(fs, "pipeline: the whole pipeline in one process (make run).")
	o := stack.Options{Out: os.Stdout}
	fs.StringVar(&o.DataDir, "data.dir", ".data/pipeline", "Kafka and MongoDB data (make run-reset deletes it)")
	fs.StringVar(&o.MySQLDSN, "mysql.dsn", "orderstream:orderstream@tcp(127.0.0.1:13306)/shop", "the shop database (scripts/mariadb.sh), as a user CDC can replicate with")
	fs.StringVar(&o.KafkaAddr, "kafka.addr", "127.0.0.1:9092", "where the in-process Kafka listens")
	fs.StringVar(&o.RegistryAddr, "schema.registry.addr", "127.0.0.1:8081", "where the schema registry listens")
	fs.StringVar(&o.MongoAddr, "mongodb.addr", "127.0.0.1:27017", "where the MongoDB-wire server (FerretDB) listens")
	fs.StringVar(&o.MonitorAddr, "monitor.addr", "127.0.0.1:9095", "where the Goka web monitor listens")
	fs.Float64Var(&o.Rate, "rate", 50, "orders per second (0: as fast as possible)")
	fs.Int64Var(&o.Orders, "orders", 0, "produce this many orders, wait until their totals are in MongoDB, print a summary and exit (0: run until Ctrl-C)")
	fs.DurationVar(&o.Retention, "retention", 24*time.Hour, "Kafka retention of the non-compacted topics")
	fs.IntVar(&o.RetentionMB, "retention.mb", 256, "and their size bound per partition, in MiB")
	fs.DurationVar(&o.Progress, "progress", 5*time.Second, "how often to print the progress line")
	o.Log.RegisterFlags(fs)
	if err := fs.Set("log.level", "warn"); err != nil {
		return err
	}
	fs.Lookup("log.level").DefValue = "warn"
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	ctx, stop := run.SignalContext()
	defer stop()
	return stack.Run(ctx, o)
}
