package integration

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/orderstream/pipeline/connectors/mongosink"
	"github.com/orderstream/pipeline/dev/mongoserver"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/services"
)

// TestEndToEnd runs MySQL -> cdc-source -> orders-producer -> orders-details
// -> orders-totals-by-customer -> mongo-sink -> FerretDB, each the component
// its binary runs, and checks the MongoDB documents against totals computed
// from the orders topic.
func TestEndToEnd(t *testing.T) {
	testkit.Slow(t, "an end-to-end run")
	dsn := testkit.MySQL(t)
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		p := newPipeline(t, brokers)
		mongoSrv, err := mongoserver.Start(context.Background(), mongoserver.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
		require.NoError(t, err)
		t.Cleanup(func() { mongoSrv.Close() })
		prefix := strings.TrimSuffix(string(p.details.Orders), "-orders")

		src := &services.CDC{}
		services.Defaults(src)
		src.Options.DSN, src.Options.Name = dsn, prefix+"-cdc"
		src.Options.Tables[0].Topic, src.Options.Tables[1].Topic = string(p.details.Customers), string(p.details.Products)
		src.Options.OffsetsTopic, src.Options.DeadLetterTopic = prefix+"-cdc-offsets", prefix+"-cdc-dlq"
		det := &services.Details{}
		services.Defaults(det)
		det.Topics, det.Group, det.RetryDelay = p.details, string(p.detailsID), time.Second
		tot := &services.Totals{}
		services.Defaults(tot)
		tot.Topics, tot.Group = p.totals, string(p.totalsID)
		sink := &services.Sink{}
		services.Defaults(sink)
		sink.URI, sink.Database, sink.Topic = mongoSrv.URI(), strings.ReplaceAll(prefix, "-", "_"), string(p.totals.Totals)
		sink.Compat = mongosink.CompatFerretDB
		sink.Group, sink.DLQ = prefix+"-mongo-sink", prefix+"-mongo-sink-dlq"
		prod := &services.Producer{}
		services.Defaults(prod)
		prod.Topic, prod.DSN = p.details.Orders, dsn
		prod.Options.Count, prod.Options.Rate = 5000, 0

		env := p.env()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		errs := make(chan error, 5)
		run := func(name string, c services.Component) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := services.RunComponent(ctx, env, name, c); err != nil && ctx.Err() == nil {
					errs <- err
				}
			}()
		}
		run("cdc-source", src)
		run("orders-details", det)
		run("orders-totals-by-customer", tot)
		run("mongo-sink", sink)
		// Orders start once the snapshot is on the topics (else they wait for retries).
		require.Eventually(t, func() bool {
			return p.endOffset(goka.Stream(p.details.Customers)) >= 100 && p.endOffset(goka.Stream(p.details.Products)) >= 50
		},
			time.Minute, 50*time.Millisecond)
		run("orders-producer", prod)

		m, err := mongo.Connect(options.Client().ApplyURI(mongoSrv.URI()))
		require.NoError(t, err)
		defer m.Disconnect(context.Background())
		coll := m.Database(sink.Database).Collection(sink.Collection)
		deadline := time.Now().Add(3 * time.Minute)
		var want map[string]total
		for {
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			if want == nil && p.endOffset(p.details.Orders) == 5000 {
				var n int64
				want, n = p.expectedTotals()
				require.Equal(t, int64(5000), n)
			}
			got := map[string]total{}
			cur, err := coll.Find(ctx, bson.D{})
			require.NoError(t, err)
			var docs []struct {
				ID     string `bson:"_id"`
				Orders int64  `bson:"order_count"`
				Amount string `bson:"total_amount"`
			}
			require.NoError(t, cur.All(ctx, &docs))
			for _, d := range docs {
				got[d.ID] = total{d.Orders, d.Amount}
			}
			if want != nil && equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("MongoDB did not converge to the totals: %s", diff(got, want))
			}
			time.Sleep(200 * time.Millisecond) // polling interval
		}
		cancel()
		wg.Wait()
		p.assertEmpty(p.details.DeadLetter, p.totals.DeadLetter)
	})
}
