// Package producer is the orders-producer: it makes random orders from the
// customers and products in MySQL and writes them to the orders topic, keyed
// by customer id, at a steady rate.
//
//	MySQL shop.customers, shop.products ──► orders-producer ──► orders
package producer

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
)

// Options configure the producer.
type Options struct {
	Rate           float64       // orders per second; 0: as fast as Kafka takes them
	Count          int64         // orders to produce; 0: until the context ends
	MaxQuantity    int32         // quantities are uniform in [1, MaxQuantity]
	CatalogRefresh time.Duration // how often to re-read customers and products
	Seed           uint64        // 0: random
	Logger         *slog.Logger
}

// Emitter is the part of a goka.Emitter the producer uses.
type Emitter interface {
	Emit(key string, msg any) (*goka.Promise, error)
}

// Stats count what Run did.
type Stats struct {
	Produced int64 // handed to the Kafka client
	Acked    int64 // acknowledged by Kafka (acks=all)
}

// Generator makes random orders from a catalog.
type Generator struct {
	rng     *rand.Rand
	catalog Catalog
	maxQty  int32
}

// NewGenerator returns a generator over catalog; seed 0 picks a random seed.
func NewGenerator(catalog Catalog, maxQuantity int32, seed uint64) *Generator {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), catalog: catalog, maxQty: max(maxQuantity, 1)}
}

// Next returns a new order placed at now.
func (g *Generator) Next(now time.Time) *avro.Order {
	c := g.catalog.Customers[g.rng.IntN(len(g.catalog.Customers))]
	p := g.catalog.Products[g.rng.IntN(len(g.catalog.Products))]
	var id uuid.UUID
	for i := range id {
		id[i] = byte(g.rng.Uint32())
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return &avro.Order{
		OrderID:    id.String(),
		CustomerID: c,
		ProductID:  p.ID,
		Quantity:   1 + g.rng.Int32N(g.maxQty),
		UnitPrice:  new(big.Rat).Set(p.Price),
		CreatedAt:  now.UTC().Truncate(time.Millisecond),
	}
}

// SetCatalog replaces the catalog (rows added to the database meanwhile).
func (g *Generator) SetCatalog(c Catalog) { g.catalog = c }

// Run produces orders from catalog until opts.Count are acknowledged or ctx
// ends, re-reading the catalog from db every opts.CatalogRefresh. The caller
// finishes the emitter (flushing what is in flight) afterwards.
func Run(ctx context.Context, db *sql.DB, catalog Catalog, em Emitter, opts Options) (Stats, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := catalog.Validate(); err != nil {
		return Stats{}, err
	}
	gen := NewGenerator(catalog, opts.MaxQuantity, opts.Seed)
	catalogSize.WithLabelValues("customers").Set(float64(len(catalog.Customers)))
	catalogSize.WithLabelValues("products").Set(float64(len(catalog.Products)))

	var (
		mu       sync.Mutex
		acked    int64
		firstErr error
		inflight sync.WaitGroup
	)
	var stats Stats
	start := time.Now()
	refresh := time.NewTicker(max(opts.CatalogRefresh, time.Second))
	defer refresh.Stop()

	for opts.Count == 0 || stats.Produced < opts.Count {
		mu.Lock()
		err := firstErr
		mu.Unlock()
		if err != nil {
			break
		}
		if opts.Rate > 0 {
			// Pace against the start time, so slow emits do not lower the rate.
			due := start.Add(time.Duration(float64(stats.Produced) / opts.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				timer := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					timer.Stop()
				case <-timer.C:
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-refresh.C:
			if c, err := LoadCatalog(ctx, db); err != nil {
				log.Warn("re-reading the catalog failed; keeping the old one", "err", err)
			} else if c.Validate() == nil {
				if len(c.Customers) != len(gen.catalog.Customers) || len(c.Products) != len(gen.catalog.Products) {
					log.Info("catalog changed", "customers", len(c.Customers), "products", len(c.Products))
				}
				gen.SetCatalog(c)
				catalogSize.WithLabelValues("customers").Set(float64(len(c.Customers)))
				catalogSize.WithLabelValues("products").Set(float64(len(c.Products)))
			}
		default:
		}

		o := gen.Next(time.Now())
		p, err := em.Emit(codecs.Key(o.CustomerID), o)
		if err != nil {
			return stats, fmt.Errorf("producing order %s: %w", o.OrderID, err)
		}
		stats.Produced++
		ordersProduced.Inc()
		inflight.Add(1)
		p.Then(func(err error) {
			defer inflight.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				produceErrors.Inc()
				if firstErr == nil {
					firstErr = fmt.Errorf("producing order %s: %w", o.OrderID, err)
				}
			} else {
				acked++
				ordersAcked.Inc()
			}
		})
	}
	inflight.Wait()
	stats.Acked = acked
	if firstErr != nil {
		return stats, firstErr
	}
	if opts.Count > 0 && stats.Acked < opts.Count && ctx.Err() != nil {
		return stats, fmt.Errorf("interrupted after %d of %d orders: %w", stats.Acked, opts.Count, context.Cause(ctx))
	}
	return stats, nil
}
