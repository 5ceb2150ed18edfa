package stack

import (
	"flag"
	"time"
)

// RegisterFlags adds the flags of `pipeline` (make run) to fs, with their
// defaults, filling o as they are parsed.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.DataDir, "data.dir", ".data/pipeline", "Kafka and MongoDB data (make run-reset deletes it)")
	fs.StringVar(&o.MySQLDSN, "mysql.dsn", "orderstream:orderstream@tcp(127.0.0.1:13306)/shop", "the shop database (scripts/mariadb.sh), as a user CDC can replicate with")
	fs.StringVar(&o.KafkaAddr, "kafka.addr", "127.0.0.1:9092", "where the in-process Kafka listens")
	fs.StringVar(&o.RegistryAddr, "schema.registry.addr", "127.0.0.1:8081", "where the schema registry listens")
	fs.StringVar(&o.MongoAddr, "mongodb.addr", "127.0.0.1:27017", "where the MongoDB-wire server (FerretDB) listens")
	fs.StringVar(&o.MonitorAddr, "monitor.addr", "127.0.0.1:9095", "where the dashboard (/), Goka's monitor (/monitor/, /query/) and /metrics are served")
	fs.Float64Var(&o.Rate, "rate", 50, "orders per second (0: as fast as possible)")
	fs.Int64Var(&o.Orders, "orders", 0, "produce this many orders, wait until their totals are in MongoDB, print a summary and exit (0: run until Ctrl-C)")
	fs.DurationVar(&o.Retention, "retention", 24*time.Hour, "Kafka retention of the non-compacted topics")
	fs.IntVar(&o.RetentionMB, "retention.mb", 256, "and their size bound per partition, in MiB")
	fs.DurationVar(&o.Progress, "progress", 5*time.Second, "how often to print the progress line")
	o.Log.RegisterFlags(fs)
	// A quieter default than the services' info. Set through the Value,
	// not fs.Set: fs.Set would count as given on the command line, and
	// LOG_LEVEL in the environment would be ignored.
	lvl := fs.Lookup("log.level")
	_ = lvl.Value.Set("warn")
	lvl.DefValue = "warn"
}
