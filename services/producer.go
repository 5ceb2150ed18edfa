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

// Producer is the orders-producer service.
type Producer struct {
	Topic       goka.Stream
	DSN         string
	Options     producer.Options
	maxQuantity int
	// Stats, when set, receives the counts once the work is done or
	// stopped (with Count, over every restart).
	Stats func(producer.Stats, time.Duration)
	// done is what earlier runs of this component had Kafka acknowledge:
	// a bounded run restarted after a failure produces only the rest.
	done  producer.Stats
	start time.Time
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

// Groups: the producer consumes nothing.
func (p *Producer) Groups() []string { return nil }

// Run produces orders until Count are acknowledged or ctx ends.
func (p *Producer) Run(ctx context.Context, env *frame.Env) error {
	opts := p.Options
	if p.maxQuantity > 0 {
		opts.MaxQuantity = int32(p.maxQuantity)
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if opts.Count > 0 {
		if opts.Count -= p.done.Acked; opts.Count <= 0 {
			return nil
		}
	}
	opts.Logger = env.Log
	db, err := sql.Open("mysql", p.DSN)
	if err != nil {
		return &run.Permanent{Err: fmt.Errorf("mysql.dsn: %w", err)}
	}
	defer db.Close()

	catalog, err := producer.LoadCatalog(ctx, db)
	if err != nil {
		return fmt.Errorf("mysql.dsn: %w", err)
	}
	if err := catalog.Validate(); err != nil {
		return &run.Permanent{Err: err}
	}
	env.Log.Info("catalog loaded", "customers", len(catalog.Customers), "products", len(catalog.Products))
	if err := env.EnsureTopics(ctx, []topics.Spec{{Name: string(p.Topic)}}); err != nil {
		return err
	}
	codec, err := codecs.NewAvro[avro.Order](ctx, env.Registry, codecs.ValueSubject(string(p.Topic)), avro.OrderSchema)
	if err != nil {
		return err
	}
	k := env.Flags.Kafka
	emOpts, err := k.EmitterOptions(env.Sarama, env.Log)
	if err != nil {
		return err
	}
	em, err := goka.NewEmitter(k.Brokers(), p.Topic, codec, emOpts...)
	if err != nil {
		return fmt.Errorf("creating the producer: %w", err)
	}
	env.Log.Info("producing", "topic", string(p.Topic), "rate", opts.Rate, "count", opts.Count)
	env.Ready()
	start := time.Now()
	stats, err := producer.Run(ctx, db, catalog, em, opts)
	if ferr := em.Finish(); ferr != nil && err == nil {
		err = fmt.Errorf("flushing: %w", ferr)
	}
	p.done.Produced += stats.Produced
	p.done.Acked += stats.Acked
	env.Log.Info("stopped producing", "produced", stats.Produced, "acked", stats.Acked, "elapsed", time.Since(start).Round(time.Millisecond))
	if p.Stats != nil && (err == nil || ctx.Err() != nil) {
		p.Stats(p.done, time.Since(p.start))
	}
	return err
}
