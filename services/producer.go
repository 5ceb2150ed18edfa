package services

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"time"

	_ "github.com/go-sql-driver/mysql" // the MySQL driver
	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/producer"
	"github.com/orderstream/pipeline/services/frame"
)

// Producer is the orders-producer frame.
type Producer struct {
	Topic       goka.Stream
	DSN         string
	Options     producer.Options
	maxQuantity int
	// Stats, when set, receives the counts once Run is done.
	Stats func(producer.Stats, time.Duration)
}

// RegisterFlags adds the service's flags, defaults included.
func (p *Producer) RegisterFlags(fs *flag.FlagSet) {
	p.Topic = "orders"
	frame.StreamFlag(fs, &p.Topic, "topic.orders", "output: orders")
	fs.StringVar(&p.DSN, "mysql.dsn", "orderstream:orderstream@tcp(127.0.0.1:13306)/shop?parseTime=true", "MySQL DSN (go-sql-driver format) of the shop database")
	fs.Float64Var(&p.Options.Rate, "rate", 10, "orders per second (0: as fast as Kafka takes them)")
	fs.Int64Var(&p.Options.Count, "count", 0, "orders to produce, then exit (0: until stopped)")
	fs.IntVar(&p.maxQuantity, "max.quantity", 5, "largest quantity of an order")
	fs.DurationVar(&p.Options.CatalogRefresh, "catalog.refresh", 10*time.Second, "how often to re-read customers and products (to pick up new rows)")
	fs.Uint64Var(&p.Options.Seed, "seed", 0, "random seed (0: random)")
}

// Run produces orders until Count are acknowledged or ctx ends.
func (p *Producer) Run(ctx context.Context, env *frame.Env) error {
	opts := p.Options
	if p.maxQuantity > 0 {
		opts.MaxQuantity = int32(p.maxQuantity)
	}
	opts.Logger = env.Log
	db, err := sql.Open("mysql", p.DSN)
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
		if err := env.EnsureTopics(ctx, []topics.Spec{{Name: string(p.Topic)}}); err != nil {
			return err
		}
		codec, err = codecs.NewAvro[avro.Order](ctx, env.Registry, codecs.ValueSubject(string(p.Topic)), avro.OrderSchema)
		return err
	})
	if err != nil || ctx.Err() != nil {
		return err
	}
	k := env.Flags.Kafka
	em, err := goka.NewEmitter(k.Brokers(), p.Topic, codec, k.EmitterOptions(env.Sarama, env.Log)...)
	if err != nil {
		return fmt.Errorf("creating the producer: %w", err)
	}
	env.Log.Info("producing", "topic", string(p.Topic), "rate", opts.Rate, "count", opts.Count)
	env.SetReady(true)
	start := time.Now()
	stats, err := producer.Run(ctx, db, catalog, em, opts)
	if ferr := em.Finish(); ferr != nil && err == nil {
		err = fmt.Errorf("flushing: %w", ferr)
	}
	env.Log.Info("stopped producing", "produced", stats.Produced, "acked", stats.Acked, "elapsed", time.Since(start).Round(time.Millisecond))
	if p.Stats != nil {
		p.Stats(stats, time.Since(start))
	}
	return err
}
