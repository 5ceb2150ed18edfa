package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/producer"
)

// BenchmarkScale prints make bench's table for the processors as they run
// in production: the two binaries, default settings, against the real
// broker (KAFKA_BOOTSTRAP_SERVERS):
//
//   - limit: the broker's raw limit for the pipeline's records, measured
//     here with franz-go producing and consuming the same bytes (produce
//     and read an order, produce and read its order-details, produce its
//     customer-totals record and its table record), in orders/s;
//   - backlog variants: orders/s over a backlog, its fraction of the limit,
//     CPU µs per order and peak RSS of each service, exactness;
//   - steady variants: p50/p99 order -> customer-totals latency and peak
//     RSS at a steady rate;
//   - table variants: orders-details from start to /readyz with N customers
//     (and 100k products), and its RSS;
//   - scale-out: 12 partitions and 1, 2, 3 instances of each processor, and
//     the longest pause in customer-totals while an instance joins.
//
// BENCH_ORDERS (300000), BENCH_CUSTOMERS (10000), BENCH_TABLES
// (10000,100000,1000000), BENCH_SCALE (1,2,3), BENCH_STEADY_S (20: seconds of
// each steady rate) and BENCH_LARGE (1: the
// 1M-customer, 3M-order run; 0 skips it) change the sizes ("none": no
// such variants).
func BenchmarkScale(b *testing.B) {
	brokers := testkit.RealKafka(b)
	b.ReportMetric(0, "ns/op")
	orders := envInt("BENCH_ORDERS", 300_000)
	customers := envInt("BENCH_CUSTOMERS", 10_000)
	var rows []benchRow

	limit := rawLimit(b, brokers, orders)
	rows = append(rows, benchRow{variant: "raw limit (franz-go, same bytes)", ordersPerS: limit})

	r := runBacklog(b, brokers, benchSpec{partitions: 6, customers: customers, products: 1000, orders: orders, instances: 1,
		steady: []float64{2_000, 10_000}})
	rows = append(rows, r...)
	for _, n := range envInts("BENCH_SCALE", []int{1, 2, 3}) {
		rows = append(rows, runBacklog(b, brokers, benchSpec{partitions: 12, customers: customers, products: 1000, orders: orders,
			instances: n, join: n == 2})...)
	}
	for _, n := range envInts("BENCH_TABLES", []int{10_000, 100_000, 1_000_000}) {
		rows = append(rows, tableLoad(b, brokers, n, 100_000))
	}
	if envInt("BENCH_LARGE", 1) == 1 {
		rows = append(rows, runBacklog(b, brokers, benchSpec{partitions: 6, customers: 1_000_000, products: 100_000, orders: 3_000_000, instances: 1})...)
	}
	for i := range rows {
		if rows[i].ordersPerS > 0 && !strings.HasPrefix(rows[i].variant, "raw") {
			rows[i].fraction = rows[i].ordersPerS / limit
		}
	}
	printTable(b, rows)
}

type benchSpec struct {
	partitions          int32
	customers, products int
	orders              int
	instances           int
	steady              []float64 // orders/s of the steady phases after the backlog
	join                bool      // start the last instance during the backlog
}

type benchRow struct {
	variant            string
	ordersPerS         float64
	fraction           float64
	cpuDetails, cpuTot float64 // µs per order
	rssDetails, rssTot float64 // MiB
	p50, p99           float64 // ms
	ready              time.Duration
	pause              time.Duration // the longest gap in customer-totals while an instance joined
	exact              string
}

func printTable(b *testing.B, rows []benchRow) {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "variant\torders/s\tof limit\tCPU µs/order details\tCPU µs/order totals\tpeak RSS MiB details\tpeak RSS MiB totals\tp50 ms\tp99 ms\tready\tjoin pause\texact")
	f := func(v float64, format string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	d := func(v time.Duration) string {
		if v == 0 {
			return "-"
		}
		return v.Round(10 * time.Millisecond).String()
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.variant, f(r.ordersPerS, "%.0f"), f(r.fraction, "%.2f"),
			f(r.cpuDetails, "%.1f"), f(r.cpuTot, "%.1f"), f(r.rssDetails, "%.0f"), f(r.rssTot, "%.0f"), f(r.p50, "%.1f"), f(r.p99, "%.1f"),
			d(r.ready), d(r.pause), r.exact)
	}
	w.Flush()
	b.Logf("\n%s", sb.String())
	fmt.Println(sb.String())
}

// --- the data ----------------------------------------------------------------

// benchEnv is one run's topics and registry on the broker.
type benchEnv struct {
	*pipeline
	catalog producer.Catalog
}

func newBenchEnv(b *testing.B, brokers []string, partitions int32, customers, products int) *benchEnv {
	run := testkit.Unique("bench")
	url, reg := testkit.RegistryURL(b)
	p := &pipeline{t: b, brokers: brokers, regURL: url, reg: reg, kafka: testkit.KafkaConfig(brokers), layout: layout{orders: partitions}}
	p.details.Orders, p.details.Customers, p.details.Products = goka.Stream(run+"-orders"), goka.Table(run+"-customers"), goka.Table(run+"-products")
	p.details.Details, p.details.Retry, p.details.DeadLetter = goka.Stream(run+"-order-details"), goka.Stream(run+"-orders-details-retry"), goka.Stream(run+"-orders-details-dlq")
	p.detailsID, p.totalsID = goka.Group(run+"-orders-details"), goka.Group(run+"-orders-totals-by-customer")
	p.totals.Details, p.totals.Totals, p.totals.DeadLetter = p.details.Details, goka.Stream(run+"-customer-totals"), goka.Stream(run+"-orders-totals-by-customer-dlq")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(100_000), kgo.ProducerLinger(5*time.Millisecond))
	require.NoError(b, err)
	b.Cleanup(cl.Close)
	p.client = cl
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	create := func(n int32, cfg map[string]*string, names ...string) {
		res, err := adm.CreateTopics(ctx, n, 1, cfg, names...)
		require.NoError(b, err)
		require.NoError(b, res.Error())
	}
	create(partitions, nil, string(p.details.Orders), string(p.details.Details), string(p.details.Retry), string(p.details.DeadLetter), string(p.totals.DeadLetter))
	create(partitions, compact, string(p.totals.Totals), string(goka.GroupTable(p.totalsID)))
	create(6, compact, string(p.details.Customers), string(p.details.Products))
	all := []string{string(p.details.Orders), string(p.details.Details), string(p.details.Retry), string(p.details.DeadLetter), string(p.totals.DeadLetter),
		string(p.totals.Totals), string(goka.GroupTable(p.totalsID)), string(p.details.Customers), string(p.details.Products)}
	require.NoError(b, topics.AwaitServed(ctx, cl, time.Minute, all...))
	b.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), all...) })

	e := &benchEnv{pipeline: p}
	e.writeCatalog(customers, products)
	return e
}

// writeCatalog writes customers and products as the CDC source would (key
// = id, Avro, murmur2) and keeps them as the producer's catalog.
func (e *benchEnv) writeCatalog(customers, products int) {
	b := e.t
	ctx := context.Background()
	custCodec, err := codecs.NewAvro[avro.Customer](ctx, e.reg, codecs.ValueSubject(string(e.details.Customers)), avro.CustomerSchema)
	require.NoError(b, err)
	prodCodec, err := codecs.NewAvro[avro.Product](ctx, e.reg, codecs.ValueSubject(string(e.details.Products)), avro.ProductSchema)
	require.NoError(b, err)
	now := time.Now().UTC().Truncate(time.Millisecond)
	masked := "****"
	var firstErr error
	promise := func(_ *kgo.Record, err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for i := 1; i <= customers; i++ {
		c := &avro.Customer{ID: int64(i), FirstName: "First" + strconv.Itoa(i), LastName: "Last", Email: fmt.Sprintf("c%d@example.com", i),
			Phone: ptrTo("+1 555 0100"), CreditCard: &masked, City: ptrTo("Springfield"), Country: ptrTo("US"), CreatedAt: now, UpdatedAt: now}
		v, err := custCodec.Encode(c)
		require.NoError(b, err)
		e.client.Produce(ctx, &kgo.Record{Topic: string(e.details.Customers), Key: []byte(codecs.Key(c.ID)), Value: v}, promise)
		e.catalog.Customers = append(e.catalog.Customers, c.ID)
	}
	for i := 1; i <= products; i++ {
		price := big.NewRat(int64(100+i%9900), 100)
		pr := &avro.Product{ID: int64(i), Name: "Product " + strconv.Itoa(i), Category: "Misc", Price: price, Description: ptrTo("a product"), CreatedAt: now, UpdatedAt: now}
		v, err := prodCodec.Encode(pr)
		require.NoError(b, err)
		e.client.Produce(ctx, &kgo.Record{Topic: string(e.details.Products), Key: []byte(codecs.Key(pr.ID)), Value: v}, promise)
		e.catalog.Products = append(e.catalog.Products, producer.Product{ID: pr.ID, Price: price})
	}
	require.NoError(b, e.client.Flush(ctx))
	require.NoError(b, firstErr)
}

func ptrTo[T any](v T) *T { return &v }

// produceOrders writes n orders for the catalog at rate (0: as fast as
// Kafka takes them) with the producer's code path.
func (e *benchEnv) produceOrders(ctx context.Context, n int, rate float64) {
	env := e.env()
	codec, err := codecs.NewAvro[avro.Order](ctx, e.reg, codecs.ValueSubject(string(e.details.Orders)), avro.OrderSchema)
	require.NoError(e.t, err)
	emOpts, err := e.kafka.EmitterOptions(env.Sarama, env.Log)
	require.NoError(e.t, err)
	em, err := goka.NewEmitter(e.brokers, e.details.Orders, codec, emOpts...)
	require.NoError(e.t, err)
	_, err = producer.Run(ctx, nil, e.catalog, em, producer.Options{Count: int64(n), Rate: rate, MaxQuantity: 5, CatalogRefresh: 24 * time.Hour})
	require.NoError(e.t, em.Finish())
	require.NoError(e.t, err)
}

// --- the services as binaries -----------------------------------------------

// service is a running binary with its /readyz address.
type service struct {
	*process
	http string
}

func freeAddr(b testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer ln.Close()
	return ln.Addr().String()
}

// benchArgs are more flags for both processors (BENCH_ARGS, space
// separated), for trying settings.
func benchArgs() []string { return strings.Fields(os.Getenv("BENCH_ARGS")) }

func (e *benchEnv) detailsService(args ...string) *service {
	args = append(benchArgs(), args...)
	addr := freeAddr(e.t)
	p := e.process("orders-details", append([]string{"--http.addr", addr, "--http.pprof", "--group.id", string(e.detailsID),
		"--topic.orders", string(e.details.Orders), "--topic.customers", string(e.details.Customers),
		"--topic.products", string(e.details.Products), "--topic.order.details", string(e.details.Details),
		"--topic.retry", string(e.details.Retry), "--topic.dlq", string(e.details.DeadLetter), "--session.timeout.ms", "10000"}, args...)...)
	return &service{p, addr}
}

func (e *benchEnv) totalsService(args ...string) *service {
	args = append(benchArgs(), args...)
	addr := freeAddr(e.t)
	p := e.process("orders-totals-by-customer", append([]string{"--http.addr", addr, "--http.pprof", "--group.id", string(e.totalsID),
		"--topic.order.details", string(e.totals.Details), "--topic.customer.totals", string(e.totals.Totals),
		"--topic.dlq", string(e.totals.DeadLetter), "--session.timeout.ms", "10000"}, args...)...)
	return &service{p, addr}
}

// ready reports whether the service answers /readyz with 200.
func (s *service) ready() bool {
	res, err := http.Get("http://" + s.http + "/readyz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// cpu is the CPU time the process used so far.
func (s *service) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// rss is VmHWM (peak) or VmRSS of the process, in MiB.
func (s *service) rss(field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// profile writes the profile /debug/pprof/<which> to file (the services
// run with --http.pprof).
func (s *service) profile(file, which string) {
	res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s", s.http, which))
	if err != nil {
		return
	}
	defer res.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, res.Body)
}

// resetPeak restarts the process's VmHWM.
func (s *service) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
}

func sum[T any](xs []T, f func(T) float64) float64 {
	var n float64
	for _, x := range xs {
		n += f(x)
	}
	return n
}

// runBacklog runs spec's backlog through the binaries and returns its row
// (and the steady rows).
func runBacklog(b *testing.B, brokers []string, spec benchSpec) []benchRow {
	e := newBenchEnv(b, brokers, spec.partitions, spec.customers, spec.products)
	ctx := context.Background()
	e.produceOrders(ctx, spec.orders, 0)

	name := fmt.Sprintf("backlog %dk orders, %d partitions, %dk customers, %d instance(s)", spec.orders/1000, spec.partitions, spec.customers/1000, spec.instances)
	w := e.watchTotals()
	start := time.Now()
	var dets, tots []*service
	launch := func() {
		d, t := e.detailsService(), e.totalsService()
		d.start()
		t.start()
		dets, tots = append(dets, d), append(tots, t)
	}
	first := spec.instances
	if spec.join {
		first--
	}
	for range first {
		launch()
	}
	var pause time.Duration
	if spec.join {
		// Another instance joins when a third of the backlog is counted.
		w.awaitCounted(int64(spec.orders/3), 10*time.Minute)
		joined := time.Now()
		launch()
		pause = w.longestGap(int64(spec.orders*2/3), joined, 10*time.Minute)
	}
	if dir := os.Getenv("BENCH_PROFILE_DIR"); dir != "" && len(dets) == 1 {
		// CPU profiles of both services during the backlog.
		w.awaitCounted(int64(spec.orders/5), 10*time.Minute)
		for _, s := range []*service{dets[0], tots[0]} {
			file := filepath.Join(dir, fmt.Sprintf("%s-%s", s.name, strings.ReplaceAll(name, " ", "_")))
			go func() {
				s.profile(file+".pprof", "profile?seconds=10")
				s.profile(file+".heap", "heap")
			}()
		}
	}
	w.awaitCounted(int64(spec.orders), 30*time.Minute)
	el := time.Since(start)
	row := benchRow{variant: name, ordersPerS: float64(spec.orders) / el.Seconds(), pause: pause,
		cpuDetails: sum(dets, func(s *service) float64 { return float64(s.cpu().Microseconds()) }) / float64(spec.orders),
		cpuTot:     sum(tots, func(s *service) float64 { return float64(s.cpu().Microseconds()) }) / float64(spec.orders),
		rssDetails: sum(dets, func(s *service) float64 { return s.rss("VmHWM") }) / float64(len(dets)),
		rssTot:     sum(tots, func(s *service) float64 { return s.rss("VmHWM") }) / float64(len(tots))}
	want, n := e.expectedTotals()
	row.exact = "yes"
	if n != int64(spec.orders) || !equal(w.latest, want) {
		row.exact = "NO: " + diff(w.latest, want)
	}
	rows := []benchRow{row}

	for _, rate := range spec.steady {
		for _, s := range append(dets, tots...) {
			s.resetPeak()
		}
		lat := newLatencyWatcher(b, e.pipeline)
		count := int(rate * float64(envInt("BENCH_STEADY_S", 20)))
		cpu0d, cpu0t := dets[0].cpu(), tots[0].cpu()
		e.produceOrders(ctx, count, rate)
		p50, p99 := lat.collect(count)
		rows = append(rows, benchRow{variant: fmt.Sprintf("steady %.0f orders/s, %dk customers", rate, spec.customers/1000), p50: p50, p99: p99,
			cpuDetails: float64((dets[0].cpu() - cpu0d).Microseconds()) / float64(count),
			cpuTot:     float64((tots[0].cpu() - cpu0t).Microseconds()) / float64(count),
			rssDetails: dets[0].rss("VmHWM"), rssTot: tots[0].rss("VmHWM")})
	}
	for _, s := range append(dets, tots...) {
		s.stop()
	}
	return rows
}

// longestGap follows customer-totals until at least n orders are counted
// and returns the longest time without a new record after since.
func (w *totalsWatcher) longestGap(n int64, since time.Time, timeout time.Duration) time.Duration {
	deadline := time.Now().Add(timeout)
	last, longest := since, time.Duration(0)
	for w.counted() < n {
		if time.Now().After(deadline) {
			w.p.t.Fatalf("only %d of %d orders counted after %v", w.counted(), n, timeout)
		}
		before := w.counted()
		w.poll(50 * time.Millisecond)
		now := time.Now()
		if w.counted() > before {
			longest = max(longest, now.Sub(last))
			last = now
		}
	}
	return longest
}

// tableLoad starts orders-details on n customers and products and measures
// the time to /readyz and the RSS.
func tableLoad(b *testing.B, brokers []string, customers, products int) benchRow {
	e := newBenchEnv(b, brokers, 6, customers, products)
	d := e.detailsService()
	start := time.Now()
	d.start()
	deadline := start.Add(10 * time.Minute)
	for !d.ready() {
		require.NoError(b, d.cmd.Process.Signal(syscall.Signal(0)), "orders-details died:\n%s", d.out.Tail(20))
		require.True(b, time.Now().Before(deadline), "not ready after 10 min")
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	row := benchRow{variant: fmt.Sprintf("tables %dk customers, %dk products: orders-details to ready", customers/1000, products/1000),
		ready: time.Since(start), rssDetails: d.rss("VmHWM")}
	d.stop()
	return row
}

// rawLimit measures, with franz-go, what the broker does per order at the
// pipeline's record sizes: produce an order, read it, produce and read its
// order-details, produce its customer-totals and its table record. It
// returns n orders divided by the time of all of it.
func rawLimit(b *testing.B, brokers []string, n int) float64 {
	e := newBenchEnv(b, brokers, 6, 1, 1)
	sizes := map[string]int{}
	// The pipeline's record sizes, from real records.
	order, _ := avroSize(b, e, avro.OrderSchema, &avro.Order{OrderID: "6f1c2f0e-8b7a-4a57-9d1e-2c5b3f4a1b00", CustomerID: 4242, ProductID: 17, Quantity: 3, UnitPrice: big.NewRat(1999, 100), CreatedAt: time.Now()})
	sizes["order"] = order
	fn, ln, em := "First4242", "Last", "c4242@example.com"
	pn, pc := "Product 17", "Misc"
	det := &avro.OrderDetails{OrderID: "6f1c2f0e-8b7a-4a57-9d1e-2c5b3f4a1b00", CustomerID: 4242, ProductID: 17, Quantity: 3, UnitPrice: big.NewRat(1999, 100),
		LineTotal: big.NewRat(5997, 100), CreatedAt: time.Now(), CustomerFirstName: &fn, CustomerLastName: &ln, CustomerEmail: &em,
		ProductName: &pn, ProductCategory: &pc, SourcePartition: 3, SourceOffset: 123456, Status: avro.OrderDetailsStatusJoined}
	sizes["order-details"], _ = avroSize(b, e, avro.OrderDetailsSchema, det)
	name := "First4242 Last"
	tot := &avro.CustomerTotal{CustomerID: 4242, CustomerName: name, CustomerEmail: &em, OrderCount: 37, TotalAmount: big.NewRat(123456, 100),
		LastOrderID: ptrTo("6f1c2f0e-8b7a-4a57-9d1e-2c5b3f4a1b00"), LastOrderAt: ptrTo(time.Now()), UpdatedAt: time.Now()}
	sizes["customer-totals"], _ = avroSize(b, e, avro.CustomerTotalSchema, tot)
	st := &avro.CustomerTotalState{CustomerID: 4242, CustomerName: name, CustomerEmail: &em, OrderCount: 37, TotalAmount: big.NewRat(123456, 100),
		LastOrderID: ptrTo("6f1c2f0e-8b7a-4a57-9d1e-2c5b3f4a1b00"), LastOrderAt: ptrTo(time.Now()), UpdatedAt: time.Now(),
		Watermarks: []avro.SourceWatermark{{Partition: 3, Offset: 123456}}, Open: []avro.OpenOrder{}}
	sizes["table"], _ = avroSize(b, e, avro.CustomerTotalStateSchema, st)

	topic := func(suffix string) string { return string(e.details.Orders) + "-raw-" + suffix }
	adm := kadm.NewClient(e.client)
	ctx := context.Background()
	var names []string
	for _, s := range []string{"order", "order-details", "customer-totals", "table"} {
		names = append(names, topic(s))
	}
	res, err := adm.CreateTopics(ctx, 6, 1, nil, names...)
	require.NoError(b, err)
	require.NoError(b, res.Error())
	require.NoError(b, topics.AwaitServed(ctx, e.client, time.Minute, names...))
	b.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), names...) })

	opts, err := e.kafka.Franz(slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(b, err)
	produce := func(t string, size int) time.Duration {
		cl, err := kgo.NewClient(append(opts, kgo.MaxBufferedRecords(100_000))...)
		require.NoError(b, err)
		defer cl.Close()
		value := make([]byte, size)
		start := time.Now()
		var failed error
		for i := range n {
			key := []byte(strconv.Itoa(i % 10_000))
			cl.Produce(ctx, &kgo.Record{Topic: t, Key: key, Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed = err
				}
			})
		}
		require.NoError(b, cl.Flush(ctx))
		require.NoError(b, failed)
		return time.Since(start)
	}
	consume := func(t string) time.Duration {
		start := time.Now()
		got := 0
		require.NoError(b, topics.ReadToEnd(ctx, e.client, t, func(*kgo.Record) error { got++; return nil }))
		require.Equal(b, n, got)
		return time.Since(start)
	}
	total := produce(topic("order"), sizes["order"]) + consume(topic("order")) +
		produce(topic("order-details"), sizes["order-details"]) + consume(topic("order-details")) +
		produce(topic("customer-totals"), sizes["customer-totals"]) + produce(topic("table"), sizes["table"])
	b.Logf("record sizes %v; %d orders' worth in %v", sizes, n, total)
	return float64(n) / total.Seconds()
}

func avroSize[T any](b *testing.B, e *benchEnv, schema string, v *T) (int, []byte) {
	c, err := codecs.NewAvro[T](context.Background(), e.reg, codecs.ValueSubject(string(e.details.Orders)+"-size-"+filepath.Base(fmt.Sprintf("%T", v))), schema)
	require.NoError(b, err)
	raw, err := c.Encode(v)
	require.NoError(b, err)
	return len(raw), raw
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envInts(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	if v == "none" {
		return nil
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return slices.Clip(out)
}
