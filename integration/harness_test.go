package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/murmur2"
	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/processors/details"
	"github.com/orderstream/pipeline/processors/totals"
	"github.com/orderstream/pipeline/producer"
	"github.com/orderstream/pipeline/services/frame"
)

// pipeline is one run of the pipeline on a cluster, with topic and group
// names of its own so that runs on a shared broker do not meet.
type pipeline struct {
	t         testing.TB
	brokers   []string
	regURL    string
	reg       *codecs.Registry
	kafka     config.Kafka
	details   details.Topics
	totals    totals.Topics
	detailsID goka.Group
	totalsID  goka.Group
	client    *kgo.Client
	layout    layout
}

const (
	orderPartitions   = 6
	catalogPartitions = 3 // different from orders: Lookup must find rows by murmur2 anyway
)

// layout is how the pipeline's topics are partitioned and replicated.
type layout struct {
	orders, details, retry, totals, catalog int32 // partitions; the group table has details'
	// cluster, when set, creates the topics on the 3-node cluster
	// (replication factor 3, in every ISR, deleted when the test ends);
	// else they have replication factor 1.
	cluster *testkit.Cluster
}

// defaultLayout: orders, order-details, retry and customer-totals alike.
var defaultLayout = layout{orders: orderPartitions, details: orderPartitions, retry: orderPartitions,
	totals: orderPartitions, catalog: catalogPartitions}

func newPipeline(t testing.TB, brokers []string) *pipeline {
	t.Helper()
	return newPipelineWith(t, brokers, defaultLayout)
}

// newPipelineWith is newPipeline with topics laid out as l.
func newPipelineWith(t testing.TB, brokers []string, l layout) *pipeline {
	t.Helper()
	run := testkit.Unique("it")
	url, reg := testkit.RegistryURL(t)
	p := &pipeline{
		t: t, brokers: brokers, regURL: url, reg: reg, kafka: testkit.KafkaConfig(brokers), layout: l,
		details: details.Topics{
			Orders: goka.Stream(run + "-orders"), Customers: goka.Table(run + "-customers"), Products: goka.Table(run + "-products"),
			Details: goka.Stream(run + "-order-details"), Retry: goka.Stream(run + "-orders-details-retry"),
			DeadLetter: goka.Stream(run + "-orders-details-dlq"),
		},
		detailsID: goka.Group(run + "-orders-details"),
		totalsID:  goka.Group(run + "-orders-totals-by-customer"),
	}
	p.totals = totals.Topics{Details: p.details.Details, Totals: goka.Stream(run + "-customer-totals"), DeadLetter: goka.Stream(run + "-orders-totals-by-customer-dlq")}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	p.client = cl
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	create := func(partitions int32, compacted bool, names ...string) {
		cfg := map[string]*string{}
		if compacted {
			cfg["cleanup.policy"] = kadm.StringPtr("compact")
		}
		if l.cluster != nil {
			for _, n := range names {
				l.cluster.CreateTopic(ctx, n, partitions, cfg)
			}
			return
		}
		res, err := adm.CreateTopics(ctx, partitions, 1, cfg, names...)
		require.NoError(t, err)
		for _, r := range res {
			require.NoError(t, r.Err, "creating %s", r.Topic)
		}
	}
	if l.cluster != nil {
		p.kafka.ReplicationFactor = testkit.ClusterNodes // what the services create too
		deleteTopicsWithPrefix(t, adm, run)              // those as well, so the cluster's restarts stay quick
	}
	create(l.orders, false, string(p.details.Orders), string(p.details.DeadLetter), string(p.totals.DeadLetter))
	create(l.details, false, string(p.details.Details))
	create(l.retry, false, string(p.details.Retry))
	create(l.totals, true, string(p.totals.Totals))
	create(l.details, true, string(goka.GroupTable(p.totalsID)))
	create(l.catalog, true, string(p.details.Customers), string(p.details.Products))
	// Topic creation is asynchronous: write nothing before every partition
	// is served by its leader (UNKNOWN_TOPIC_OR_PARTITION otherwise).
	require.NoError(t, topics.AwaitServed(ctx, cl, time.Minute, string(p.details.Orders), string(p.details.Details), string(p.details.Retry),
		string(p.details.DeadLetter), string(p.totals.DeadLetter), string(p.totals.Totals), string(goka.GroupTable(p.totalsID)),
		string(p.details.Customers), string(p.details.Products)))
	return p
}

// loadCatalog writes shop.customers and shop.products to their topics the
// way the CDC source does: key = id, Avro value, partitioned by the Java
// client's murmur2 (franz-go's default partitioner).
func (p *pipeline) loadCatalog(db *sql.DB) producer.Catalog {
	t := p.t
	ctx := context.Background()
	custCodec, err := codecs.NewAvro[avro.Customer](ctx, p.reg, codecs.ValueSubject(string(p.details.Customers)), avro.CustomerSchema)
	require.NoError(t, err)
	prodCodec, err := codecs.NewAvro[avro.Product](ctx, p.reg, codecs.ValueSubject(string(p.details.Products)), avro.ProductSchema)
	require.NoError(t, err)

	var recs []*kgo.Record
	rows, err := db.Query("SELECT id, first_name, last_name, email, phone, city, country, created_at, updated_at FROM customers")
	require.NoError(t, err)
	for rows.Next() {
		var c avro.Customer
		require.NoError(t, rows.Scan(&c.ID, &c.FirstName, &c.LastName, &c.Email, &c.Phone, &c.City, &c.Country, &c.CreatedAt, &c.UpdatedAt))
		masked := "****"
		c.CreditCard = &masked
		v, err := custCodec.Encode(&c)
		require.NoError(t, err)
		recs = append(recs, &kgo.Record{Topic: string(p.details.Customers), Key: []byte(codecs.Key(c.ID)), Value: v})
	}
	require.NoError(t, rows.Err())
	rows, err = db.Query("SELECT id, name, category, CAST(price AS CHAR), description, created_at, updated_at FROM products")
	require.NoError(t, err)
	for rows.Next() {
		var pr avro.Product
		var price string
		require.NoError(t, rows.Scan(&pr.ID, &pr.Name, &pr.Category, &price, &pr.Description, &pr.CreatedAt, &pr.UpdatedAt))
		pr.Price, _ = new(big.Rat).SetString(price)
		v, err := prodCodec.Encode(&pr)
		require.NoError(t, err)
		recs = append(recs, &kgo.Record{Topic: string(p.details.Products), Key: []byte(codecs.Key(pr.ID)), Value: v})
	}
	require.NoError(t, rows.Err())
	require.NoError(t, p.client.ProduceSync(ctx, recs...).FirstErr())

	catalog, err := producer.LoadCatalog(ctx, db)
	require.NoError(t, err)
	return catalog
}

func openShop(t testing.TB) *sql.DB {
	db, err := sql.Open("mysql", testkit.MySQL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// env is a service environment on the test cluster, for in-process runs.
func (p *pipeline) env() *frame.Env { return p.envWith(p.regURL) }

// envWith is env with the schema registry at registryURL.
func (p *pipeline) envWith(registryURL string) *frame.Env {
	f := &frame.Flags{Name: "test", Kafka: p.kafka,
		Registry: config.Registry{URL: registryURL, AutoRegister: true}, Log: config.Log{Level: "warn", Format: "text"}}
	env, err := f.Setup()
	require.NoError(p.t, err)
	return env
}

// produce writes n orders with the producer's own code path (goka emitter,
// idempotent, murmur2). Call it from the test's goroutine; see
// produceAsync for another.
func (p *pipeline) produce(ctx context.Context, db *sql.DB, catalog producer.Catalog, n int64, rate float64) producer.Stats {
	stats, err := p.tryProduce(ctx, db, catalog, n, rate)
	require.NoError(p.t, err)
	return stats
}

// produceAsync produces like produce on a goroutine of its own; the
// channel gets its error (nil when all n are acknowledged), for the test's
// goroutine to check.
func (p *pipeline) produceAsync(ctx context.Context, db *sql.DB, catalog producer.Catalog, n int64, rate float64) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := p.tryProduce(ctx, db, catalog, n, rate)
		done <- err
	}()
	return done
}

func (p *pipeline) tryProduce(ctx context.Context, db *sql.DB, catalog producer.Catalog, n int64, rate float64) (producer.Stats, error) {
	f := &frame.Flags{Name: "test", Kafka: p.kafka,
		Registry: config.Registry{URL: p.regURL, AutoRegister: true}, Log: config.Log{Level: "warn", Format: "text"}}
	env, err := f.Setup()
	if err != nil {
		return producer.Stats{}, err
	}
	codec, err := codecs.NewAvro[avro.Order](ctx, p.reg, codecs.ValueSubject(string(p.details.Orders)), avro.OrderSchema)
	if err != nil {
		return producer.Stats{}, err
	}
	emOpts, err := p.kafka.EmitterOptions(env.Sarama, env.Log)
	if err != nil {
		return producer.Stats{}, err
	}
	em, err := goka.NewEmitter(p.brokers, p.details.Orders, codec, emOpts...)
	if err != nil {
		return producer.Stats{}, err
	}
	stats, err := producer.Run(ctx, db, catalog, em, producer.Options{Count: n, Rate: rate, MaxQuantity: 5, CatalogRefresh: time.Minute})
	if ferr := em.Finish(); ferr != nil && err == nil {
		err = ferr
	}
	return stats, err
}

// runProcessors runs both processors in this process until ctx ends,
// restarted after a failure as their services are.
func (p *pipeline) runProcessors(ctx context.Context) <-chan error {
	t := p.t
	env := p.env()
	dc, err := details.NewCodecs(ctx, p.reg, p.details)
	require.NoError(t, err)
	tc, err := totals.NewCodecs(ctx, p.reg, p.totalsID, p.totals)
	require.NoError(t, err)
	a := totals.New(p.totalsID, p.totals, tc, env.Log)
	done := make(chan error, 1)
	go func() {
		done <- env.Supervise(ctx, func(ctx context.Context) error {
			var clients config.Clients
			defer clients.Close()
			views, err := details.NewViews(p.brokers, p.details, dc, p.kafka.ViewOptions(env.Sarama, env.Log, &clients, "")...)
			if err != nil {
				return err
			}
			j := details.New(details.Options{Group: p.detailsID, Topics: p.details, MaxRetries: 5, RetryDelay: time.Second, Logger: env.Log}, dc, views)
			return env.RunProcessors(ctx, "", []*goka.View{views[p.details.Customers], views[p.details.Products]}, j.Graph(), j.RetryGraph(), a.Graph())
		})
	}()
	return done
}

// total is a customer's total as compared in the tests.
type total struct {
	count  int64
	amount string
}

// expectedTotals sums the orders topic, read from the start to its end
// offsets, independently of the processors.
func (p *pipeline) expectedTotals() (map[string]total, int64) {
	t := p.t
	ctx := context.Background()
	codec, err := codecs.NewAvro[avro.Order](ctx, p.reg, codecs.ValueSubject(string(p.details.Orders)), avro.OrderSchema)
	require.NoError(t, err)
	sums := map[string]*big.Rat{}
	counts := map[string]int64{}
	var n int64
	p.readAll(string(p.details.Orders), func(r *kgo.Record) {
		o, err := codec.DecodeValue(r.Value)
		require.NoError(t, err)
		require.Equal(t, codecs.Key(o.CustomerID), string(r.Key))
		require.Equal(t, murmur2.Partition(r.Key, p.layout.orders), r.Partition, "orders are partitioned with murmur2")
		k := string(r.Key)
		if sums[k] == nil {
			sums[k] = new(big.Rat)
		}
		sums[k].Add(sums[k], new(big.Rat).Mul(o.UnitPrice, big.NewRat(int64(o.Quantity), 1)))
		counts[k]++
		n++
	})
	out := map[string]total{}
	for k, s := range sums {
		out[k] = total{counts[k], s.FloatString(2)}
	}
	return out, n
}

// readAll calls fn for every record of topic up to its current end.
func (p *pipeline) readAll(topic string, fn func(*kgo.Record)) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(p.t, topics.ReadToEnd(ctx, p.client, topic, func(r *kgo.Record) error { fn(r); return nil }))
}

// totalsWatcher follows customer-totals and keeps the latest total per key.
type totalsWatcher struct {
	p      *pipeline
	cl     *kgo.Client
	codec  *codecs.Avro[avro.CustomerTotal]
	latest map[string]total
}

func (p *pipeline) watchTotals() *totalsWatcher {
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...), kgo.ConsumeTopics(string(p.totals.Totals)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(p.t, err)
	p.t.Cleanup(cl.Close)
	codec, err := codecs.NewAvro[avro.CustomerTotal](context.Background(), p.reg, codecs.ValueSubject(string(p.totals.Totals)), avro.CustomerTotalSchema)
	require.NoError(p.t, err)
	return &totalsWatcher{p: p, cl: cl, codec: codec, latest: map[string]total{}}
}

// poll reads what arrived within d.
func (w *totalsWatcher) poll(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	fs := w.cl.PollFetches(ctx)
	fs.EachRecord(func(r *kgo.Record) {
		v, err := w.codec.DecodeValue(r.Value)
		require.NoError(w.p.t, err)
		require.Equal(w.p.t, codecs.Key(v.CustomerID), string(r.Key))
		w.latest[string(r.Key)] = total{v.OrderCount, v.TotalAmount.FloatString(2)}
	})
}

// counted is the number of orders the latest totals count.
func (w *totalsWatcher) counted() int64 {
	var n int64
	for _, v := range w.latest {
		n += v.count
	}
	return n
}

// await polls until the totals equal want, or fails after timeout with
// the differences.
func (w *totalsWatcher) await(want map[string]total, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for !equal(w.latest, want) {
		if time.Now().After(deadline) {
			w.p.t.Fatalf("totals did not converge in %v: %s", timeout, diff(w.latest, want))
		}
		w.poll(time.Second)
	}
}

// awaitCounted polls until at least n orders are counted.
func (w *totalsWatcher) awaitCounted(n int64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for w.counted() < n {
		if time.Now().After(deadline) {
			w.p.t.Fatalf("only %d of %d orders counted after %v", w.counted(), n, timeout)
		}
		w.poll(200 * time.Millisecond)
	}
}

func equal(got, want map[string]total) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func diff(got, want map[string]total) string {
	var lines []string
	for k, v := range want {
		if got[k] != v {
			lines = append(lines, fmt.Sprintf("customer %s: got %+v, want %+v", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, fmt.Sprintf("customer %s: got %+v, want nothing", k, v))
		}
	}
	slices.Sort(lines)
	if len(lines) > 10 {
		lines = append(lines[:10], fmt.Sprintf("... and %d more", len(lines)-10))
	}
	return fmt.Sprintf("%d customers differ:\n%s", len(lines), strings.Join(lines, "\n"))
}

// assertEmpty checks that nothing was dead-lettered.
func (p *pipeline) assertEmpty(topics ...goka.Stream) {
	for _, topic := range topics {
		n := 0
		p.readAll(string(topic), func(*kgo.Record) { n++ })
		require.Zero(p.t, n, "records on %s", topic)
	}
}
