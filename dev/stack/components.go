package stack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/connectors/cdc"
	"github.com/orderstream/pipeline/connectors/mongosink"
	"github.com/orderstream/pipeline/dashboard"
	"github.com/orderstream/pipeline/services"
)

// producerName is the service the stack starts last, once the CDC
// snapshot is on the topics.
const producerName = "orders-producer"

// component is one service of the stack.
type component struct {
	name string
	services.Component
}

// stack is every service of services.Table, configured as its binary's
// defaults would be, pointed at the dev infrastructure; the typed fields
// are the ones the stack and its report need to reach.
type stack struct {
	components []component
	cdc        *services.CDC
	producer   *services.Producer
	details    *services.Details
	totals     *services.Totals
	sink       *services.Sink
}

func newStack(o Options, mongoURI string) stack {
	var s stack
	for _, svc := range services.Table {
		c := svc.New()
		services.Defaults(c)
		switch c := c.(type) {
		case *services.CDC:
			c.Options.DSN = o.MySQLDSN
			// MariaDB and the dev Kafka are reset separately (make
			// run-reset resets only the latter): re-snapshot when the
			// stored position is gone.
			c.Options.SnapshotMode = cdc.SnapshotWhenNeeded
			c.Options.OffsetFlushInterval = time.Second
			s.cdc = c
		case *services.Producer:
			c.DSN = o.MySQLDSN
			c.Options.Rate = o.Rate
			c.Options.Count = o.Orders
			s.producer = c
		case *services.Details:
			c.RetryDelay = 2 * time.Second
			s.details = c
		case *services.Totals:
			s.totals = c
		case *services.Sink:
			c.URI = mongoURI
			c.Compat = mongosink.CompatFerretDB // the dev MongoDB is FerretDB
			s.sink = c
		}
		s.components = append(s.components, component{svc.Name, c})
	}
	return s
}

// groups are the consumer groups whose lag the progress line shows.
func (s stack) groups() []string {
	var out []string
	for _, c := range s.components {
		out = append(out, c.Groups()...)
	}
	return out
}

// dashboardOptions point the dashboard at this process and its topics.
func (s stack) dashboardOptions(o Options, e Endpoints, reg *codecs.Registry, log *slog.Logger) dashboard.Options {
	groups := map[string][]string{}
	for _, c := range s.components {
		if gs := c.Groups(); len(gs) > 0 {
			groups[c.name] = gs
		}
	}
	u := e.MonitorURL
	return dashboard.Options{
		Targets:  []dashboard.Target{{Name: "pipeline", URL: u}},
		Kafka:    []kgo.Opt{kgo.SeedBrokers(e.Brokers...)},
		Registry: reg,
		Topics: dashboard.Topics{Customers: string(s.details.Topics.Customers), Products: string(s.details.Topics.Products),
			Orders: string(s.producer.Topic), OrderDetails: string(s.totals.Topics.Details), CustomerTotals: string(s.totals.Topics.Totals),
			DeadLetters: map[string]string{"cdc-source": s.cdc.Options.DeadLetterTopic, "orders-details": string(s.details.Topics.DeadLetter),
				"orders-totals-by-customer": string(s.totals.Topics.DeadLetter), "mongo-sink": s.sink.DLQ}},
		Groups:   groups,
		Interval: o.Scrape,
		Links: []dashboard.Link{{Title: "Goka monitor", URL: "/monitor/"}, {Title: "queries", URL: "/query/"},
			{Title: "Goka index", URL: "/goka/"}, {Title: "metrics", URL: "/metrics"}, {Title: "readiness", URL: "/readyz"}},
		Log: log.With("component", "dashboard"),
	}
}

// deadLetterTopics are every dead-letter topic of the run.
func (s stack) deadLetterTopics() []string {
	return []string{string(s.details.Topics.DeadLetter), string(s.totals.Topics.DeadLetter), s.cdc.Options.DeadLetterTopic, s.sink.DLQ}
}

// awaitCatalog waits until the CDC snapshot put customers and products on
// their topics, so that the first orders find them.
func awaitCatalog(ctx context.Context, cl *kgo.Client, s stack, timeout time.Duration) error {
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	topics := []string{string(s.details.Topics.Customers), string(s.details.Topics.Products)}
	for {
		ends, err := adm.ListEndOffsets(ctx, topics...)
		if err == nil {
			ready := 0
			for _, t := range topics {
				var n int64
				ends.Each(func(o kadm.ListedOffset) {
					if o.Topic == t && o.Err == nil {
						n += o.Offset
					}
				})
				if n > 0 {
					ready++
				}
			}
			if ready == len(topics) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the CDC source wrote no customers or products within %v: is the shop database loaded (scripts/mariadb.sh start)? see the cdc-source log lines", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
