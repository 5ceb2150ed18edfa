// Command orders-producer writes random orders for the customers and
// products in MySQL to the orders topic. See package producer; --help for
// the flags.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/run"
	"github.com/orderstream/pipeline/internal/service"
	"github.com/orderstream/pipeline/internal/topics"
	"github.com/orderstream/pipeline/producer"
)

func main() { service.Exit("orders-producer", Main(os.Args[1:])) }

// Main runs the producer with args until --count orders are acknowledged or
// SIGINT/SIGTERM.
func Main(args []string) error {
	f, fs := service.NewFlags("orders-producer", "orders-producer: writes random orders for the customers and products in MySQL to the orders topic.")
	topic := goka.Stream("orders")
	service.StreamFlag(fs, &topic, "topic.orders", "output: orders")
	dsn := fs.String("mysql.dsn", "orderstream:orderstream@tcp(127.0.0.1:13306)/shop?parseTime=true", "MySQL DSN (go-sql-driver format) of the shop database")
	var opts producer.Options
	fs.Float64Var(&opts.Rate, "rate", 10, "orders per second (0: as fast as Kafka takes them)")
	fs.Int64Var(&opts.Count, "count", 0, "orders to produce, then exit (0: until stopped)")
	maxQty := fs.Int("max.quantity", 5, "largest quantity of an order")
	fs.DurationVar(&opts.CatalogRefresh, "catalog.refresh", 10*time.Second, "how often to re-read customers and products (to pick up new rows)")
	fs.Uint64Var(&opts.Seed, "seed", 0, "random seed (0: random)")
	if err := service.Parse(fs, args); err != nil {
		return err
	}
	opts.MaxQuantity = int32(*maxQty)
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

	db, err := sql.Open("mysql", *dsn)
	if err != nil {
		return &run.Permanent{Err: fmt.Errorf("mysql.dsn: %w", err)}
	}
	defer db.Close()

	var codec *codecs.Avro[avro.Order]
	var catalog producer.Catalog
	err = env.Retry(ctx, "start-up", func(ctx context.Context) error {
		if catalog, err = producer.LoadCatalog(ctx, db); err != nil {
			return fmt.Errorf("mysql.dsn: %w", err)
		}
		if err := catalog.Validate(); err != nil {
			return &run.Permanent{Err: err}
		}
		env.Log.Info("catalog loaded", "customers", len(catalog.Customers), "products", len(catalog.Products))
		if err := env.EnsureTopics(ctx, []topics.Spec{{Name: string(topic)}}); err != nil {
			return err
		}
		codec, err = codecs.NewAvro[avro.Order](ctx, env.Registry, codecs.ValueSubject(string(topic)), avro.OrderSchema)
		return err
	})
	if err != nil || ctx.Err() != nil {
		return err
	}
	em, err := goka.NewEmitter(f.Kafka.Brokers(), topic, codec, f.Kafka.EmitterOptions(env.Sarama, env.Log)...)
	if err != nil {
		return fmt.Errorf("creating the producer: %w", err)
	}
	env.Log.Info("producing", "topic", string(topic), "rate", opts.Rate, "count", opts.Count)
	env.SetReady(true)
	start := time.Now()
	stats, err := producer.Run(ctx, db, catalog, em, opts)
	if ferr := em.Finish(); ferr != nil && err == nil {
		err = fmt.Errorf("flushing: %w", ferr)
	}
	env.Log.Info("stopped", "produced", stats.Produced, "acked", stats.Acked, "elapsed", time.Since(start).Round(time.Millisecond))
	return err
}
