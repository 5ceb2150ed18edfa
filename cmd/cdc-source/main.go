// Command cdc-source captures shop.customers and shop.products from the
// MySQL/MariaDB binlog into the customers and products topics. See package
// connectors/cdc; --help for the flags.
package main

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/connectors/cdc"
	"github.com/orderstream/pipeline/internal/config"
	"github.com/orderstream/pipeline/internal/run"
	"github.com/orderstream/pipeline/internal/service"
	"github.com/orderstream/pipeline/internal/topics"
)

func main() { service.Exit("cdc-source", Main(os.Args[1:])) }

// Main runs the source with args until SIGINT/SIGTERM.
func Main(args []string) error {
	f, fs := service.NewFlags("cdc-source", "cdc-source: captures MySQL/MariaDB rows (snapshot, then binlog) into Kafka topics, as Debezium with our SMT chain does.")
	opts := cdc.Options{Tables: append([]cdc.Table(nil), cdc.DefaultTables...)}
	fs.StringVar(&opts.Name, "name", "cdc-source", "connector name: the key of its position in the offsets topic")
	fs.StringVar(&opts.DSN, "mysql.dsn", "orderstream:orderstream@tcp(127.0.0.1:13306)/shop", "MySQL DSN (go-sql-driver format) of a user with SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT")
	serverID := fs.Uint("database.server.id", 0, "replica server id, unique among the server's replicas (0: random in 5400-6399)")
	database := fs.String("database", cdc.DefaultDatabase, "the captured database")
	topicOf := map[string]*string{}
	for i := range opts.Tables {
		t := &opts.Tables[i]
		topicOf[t.Name] = &t.Topic
		fs.StringVar(&t.Topic, "topic."+t.Name, t.Topic, "topic of table "+t.Name)
	}
	mask := fs.String("mask.fields", "customers.credit_card", "columns to mask, as table.column, comma separated (Kafka Connect MaskField$Value)")
	fs.StringVar(&opts.MaskReplacement, "mask.replacement", cdc.DefaultMaskReplacement, "what a masked column's value becomes (NULL stays NULL)")
	fs.StringVar(&opts.OffsetsTopic, "offsets.topic", cdc.DefaultOffsetsTopic, "compacted topic keeping the binlog position")
	fs.StringVar(&opts.DeadLetterTopic, "topic.dlq", "cdc-source-dlq", "dead-letter topic for rows that do not fit their schema")
	fs.StringVar(&opts.SnapshotMode, "snapshot.mode", cdc.SnapshotInitial, "initial: snapshot when there is no stored position; when_needed: also when the stored position was purged")
	config.DurationMs(fs, &opts.OffsetFlushInterval, "offset.flush.interval.ms", time.Second, "how often the acknowledged position is saved")
	reset := fs.Bool("reset.offsets", false, "forget the stored position before starting: take a new snapshot")
	if err := service.Parse(fs, args); err != nil {
		return err
	}
	opts.ServerID = uint32(*serverID)
	for i := range opts.Tables {
		opts.Tables[i].Database = *database
		opts.Tables[i].Mask = nil
	}
	for _, m := range strings.Split(*mask, ",") {
		table, col, ok := strings.Cut(strings.TrimSpace(m), ".")
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		if !ok || topicOf[table] == nil {
			return &run.Permanent{Err: errBadMask(m)}
		}
		for i := range opts.Tables {
			if opts.Tables[i].Name == table {
				opts.Tables[i].Mask = append(opts.Tables[i].Mask, col)
			}
		}
	}
	env, err := f.Setup()
	if err != nil {
		return err
	}
	opts.Logger = env.Log
	ctx, stop := run.SignalContext()
	defer stop()
	if err := env.ServeHTTP(ctx); err != nil {
		return err
	}

	kopts, err := f.Kafka.Franz(env.Log)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(kopts, kgo.MaxBufferedRecords(50_000))...)
	if err != nil {
		return err
	}
	defer cl.Close()

	var src *cdc.Source
	err = env.Retry(ctx, "start-up", func(ctx context.Context) error {
		specs := []topics.Spec{{Name: opts.OffsetsTopic, Partitions: 1, Compacted: true}, {Name: opts.DeadLetterTopic}}
		for _, t := range opts.Tables {
			specs = append(specs, topics.Spec{Name: t.Topic, Compacted: true})
		}
		if err := env.EnsureTopics(ctx, specs); err != nil {
			return err
		}
		src, err = cdc.New(ctx, opts, cl, env.Registry)
		return err
	})
	if err != nil || ctx.Err() != nil {
		return err
	}
	defer src.Close()
	if *reset {
		if err := src.ResetOffset(ctx); err != nil {
			return err
		}
		env.Log.Info("stored position forgotten; taking a new snapshot")
	}
	env.SetReady(true)
	return src.Run(ctx)
}

type errBadMask string

func (e errBadMask) Error() string {
	return "mask.fields: " + string(e) + " is not table.column of a captured table (customers, products)"
}
