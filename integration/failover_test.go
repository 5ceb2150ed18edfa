package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/orderstream/pipeline/connectors/mongosink"
	"github.com/orderstream/pipeline/dev/mongoserver"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/services"
)

// TestClusterFailoverUnderThePipeline runs orders-producer, orders-details,
// orders-totals-by-customer and mongo-sink (each the component its binary
// runs, restarted by the frame as the binary would be) on the 3-node Kafka
// cluster: every topic with replication factor 3 and min.insync.replicas 2,
// what the services create too (--replication.factor 3), and a delivery
// timeout (5 s) shorter than a failover. While orders stream, the node
// leading order-details/0 is SIGKILLed and, once the pipeline has made
// progress without it, restarted; then again for the node leading it after
// that. Writes to the partitions the node led fail after the delivery
// timeout: the services stop and are restarted, and read again from their
// last in-order commits. Then the producer stops, and customer-totals
// and the MongoDB documents must end exactly equal to the sums of the orders
// topic (whatever the producer got acknowledged, through the kills); nothing
// dead-lettered.
func TestClusterFailoverUnderThePipeline(t *testing.T) {
	c := testkit.KafkaCluster(t)
	dsn := testkit.MySQL(t)
	db := openShop(t)
	l := faultLayout // each partition of orders writes to every partition of order-details, and so on
	l.cluster = c
	p := newPipelineWith(t, c.Brokers(), l)
	// Below the time a failover takes (the controller fences a crashed
	// broker after 9 s, then elects): writes to the partitions the killed
	// node led fail, the processors stop, and the frame restarts them. With
	// the default (120 s) they would wait the failover out.
	p.kafka.DeliveryTimeout = 5 * time.Second
	p.loadCatalog(db)
	ctx := context.Background()

	mongoSrv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { mongoSrv.Close() })
	prefix := strings.TrimSuffix(string(p.details.Orders), "-orders")

	prod := &services.Producer{}
	services.Defaults(prod)
	prod.Topic, prod.DSN = p.details.Orders, dsn
	prod.Options.Count, prod.Options.Rate = 0, 250 // until stopped, after the second restart: the kills are mid-stream
	sink := &services.Sink{}
	services.Defaults(sink)
	sink.Compat = mongosink.CompatFerretDB
	sink.URI, sink.Database, sink.Topic = mongoSrv.URI(), strings.ReplaceAll(prefix, "-", "_"), string(p.totals.Totals)
	sink.Group, sink.DLQ = prefix+"-mongo-sink", prefix+"-mongo-sink-dlq"

	running := map[string]*running{}
	logs := map[string]*logRecorder{}
	for _, s := range []struct {
		name string
		c    services.Component
	}{
		{"orders-details", p.detailsComponent()},
		{"orders-totals-by-customer", p.totalsComponent()},
		{"mongo-sink", sink},
		{"orders-producer", prod},
	} {
		running[s.name], logs[s.name] = p.recordedComponent(s.name, s.c)
	}
	w := p.watchTotals()
	od := string(p.details.Details)
	for kill := 1; kill <= 2; kill++ {
		w.awaitCounted(w.counted()+1500, 3*time.Minute)
		victim := c.Leader(ctx, od, 0)
		t.Logf("kill %d: SIGKILL node %d, the leader of %s/0, at %d orders counted", kill, victim, od, w.counted())
		killed := time.Now()
		c.Kill(int(victim))
		// The controller fences it (after broker.session.timeout.ms) and
		// elects another leader; the pipeline goes on without it (2 of 3
		// replicas in sync is min.insync.replicas).
		var leader int32
		testkit.Await(t, 3*time.Minute, "a new leader of "+od+"/0", func() (bool, string) {
			leader = c.Leader(ctx, od, 0)
			return leader != victim, fmt.Sprintf("the metadata names node %d", leader)
		})
		elected := time.Since(killed)
		w.awaitCounted(w.counted()+1500, 3*time.Minute)
		t.Logf("kill %d: node %d led %s/0 after %v; %d orders counted with node %d down", kill, leader, od,
			elected.Round(100*time.Millisecond), w.counted(), victim)
		c.Restart(ctx, int(victim))
	}
	w.awaitCounted(w.counted()+500, 3*time.Minute) // and on with all three
	require.NoError(t, running["orders-producer"].stop(), "the producer stops with every order it sent acknowledged")
	want, n := p.expectedTotals()
	w.await(want, 4*time.Minute)

	coll := mongoClient(t, mongoSrv.URI()).Database(sink.Database).Collection(sink.Collection)
	testkit.Await(t, 3*time.Minute, "MongoDB equals the totals", func() (bool, string) {
		got := mongoTotals(t, coll)
		return equal(got, want), diff(got, want)
	})
	for name, r := range running {
		require.NoError(t, r.stop(), name)
		for _, l := range logs[name].matching("failed; restarting") {
			t.Logf("%s restarted: %.400s", name, l)
		}
	}
	p.assertEmpty(p.details.DeadLetter, p.totals.DeadLetter, goka.Stream(sink.DLQ))
	t.Logf("totals of %d orders exact in customer-totals and MongoDB after 2 SIGKILLs of an order-details leader; restarts: "+
		"orders-details %d, orders-totals-by-customer %d, mongo-sink %d, orders-producer %d", n,
		logs["orders-details"].count("failed; restarting"), logs["orders-totals-by-customer"].count("failed; restarting"),
		logs["mongo-sink"].count("failed; restarting"), logs["orders-producer"].count("failed; restarting"))
}

// mongoClient connects to the MongoDB at uri, until the test ends.
func mongoClient(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	m, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Disconnect(context.Background()) })
	return m
}

// mongoTotals reads the sink's documents as totals.
func mongoTotals(t *testing.T, coll *mongo.Collection) map[string]total {
	t.Helper()
	ctx := context.Background()
	cur, err := coll.Find(ctx, bson.D{})
	require.NoError(t, err)
	var docs []struct {
		ID     string `bson:"_id"`
		Orders int64  `bson:"order_count"`
		Amount string `bson:"total_amount"`
	}
	require.NoError(t, cur.All(ctx, &docs))
	got := map[string]total{}
	for _, d := range docs {
		got[d.ID] = total{d.Orders, d.Amount}
	}
	return got
}

// deleteTopicsWithPrefix deletes, when the test ends, the topics whose
// names start with prefix (the ones the services created).
func deleteTopicsWithPrefix(t testing.TB, adm *kadm.Client, prefix string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		list, err := adm.ListTopics(ctx)
		if err != nil {
			t.Logf("listing topics to delete: %v", err)
			return
		}
		var names []string
		for _, name := range list.Names() {
			if strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			if _, err := adm.DeleteTopics(ctx, names...); err != nil {
				t.Logf("deleting topics %v: %v", names, err)
			}
		}
	})
}
