package stack

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/topics"
)

// TestBoundedRunTwice runs what `make run ARGS='--orders N'` runs, twice on
// one data dir: each time the MongoDB documents must equal the totals
// computed from the orders topic, and the monitor pages must show the
// tables.
func TestBoundedRunTwice(t *testing.T) {
	testkit.Slow(t, "running the whole stack twice")
	dsn := testkit.MySQL(t)
	dir := t.TempDir()
	before := append(leakAllowed, goleak.IgnoreCurrent())
	for run, orders := range []int64{3000, 2000} {
		var out bytes.Buffer
		// What the stack looks like at the end of the run, read by Check
		// (on the stack's goroutine) and asserted here.
		var seen *endState
		err := Run(context.Background(), Options{
			DataDir: dir, MySQLDSN: dsn, KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0",
			MonitorAddr: "127.0.0.1:0", Rate: 0, Orders: orders, Retention: time.Hour, RetentionMB: 64, Progress: 200 * time.Millisecond,
			Log: config.Log{Level: "warn", Format: "text"}, Out: &out,
			Check: func(ctx context.Context, e Endpoints) error {
				var err error
				seen, err = readEndState(ctx, e)
				return err
			},
		})
		require.NoError(t, err, out.String())
		require.NotNil(t, seen, "the run ended without reaching its orders:\n%s", out.String())
		// Everything the run started is gone: the next run has the data
		// dir to itself.
		require.NoError(t, goleak.Find(before...), "goroutines left by run %d", run+1)
		assert.Equal(t, int64(3000+2000*run), seen.orders, "orders on the topic after run %d", run+1)
		assert.Equal(t, seen.want, seen.mongo, "MongoDB documents equal the totals from the orders topic")
		checkMonitor(t, seen.pages)
		assert.Contains(t, out.String(), "orders produced and totalled")
		assert.Contains(t, out.String(), "rank")
	}
}

type total struct {
	orders int64
	amount string
}

// endState is what a bounded run left: the totals computed from the
// orders topic, the MongoDB documents, and the monitor's pages.
type endState struct {
	want, mongo map[string]total
	orders      int64
	pages       map[string]page
}

type page struct {
	status int
	body   string
}

// monitorPages are the pages checkMonitor looks at.
var monitorPages = []string{"/", "/api/state", "/goka/", "/monitor/", "/query/customers/1", "/query/products/19", "/query/totals/1", "/metrics"}

func readEndState(ctx context.Context, e Endpoints) (*endState, error) {
	st := &endState{pages: map[string]page{}}
	var err error
	if st.want, st.orders, err = expectedTotals(ctx, e); err != nil {
		return nil, err
	}
	if st.mongo, err = mongoTotals(ctx, e); err != nil {
		return nil, err
	}
	for _, path := range monitorPages {
		res, err := http.Get(e.MonitorURL + path)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		st.pages[path] = page{res.StatusCode, string(b)}
	}
	return st, nil
}

func expectedTotals(ctx context.Context, e Endpoints) (map[string]total, int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...))
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	srcl, err := sr.NewClient(sr.URLs(e.RegistryURL))
	if err != nil {
		return nil, 0, err
	}
	codec, err := codecs.NewAvro[avro.Order](ctx, codecs.NewRegistry(srcl), "orders-value", avro.OrderSchema)
	if err != nil {
		return nil, 0, err
	}
	sums, counts := map[string]*big.Rat{}, map[string]int64{}
	var n int64
	err = topics.ReadToEnd(ctx, cl, "orders", func(r *kgo.Record) error {
		o, err := codec.DecodeValue(r.Value)
		if err != nil {
			return err
		}
		k := string(r.Key)
		if sums[k] == nil {
			sums[k] = new(big.Rat)
		}
		sums[k].Add(sums[k], new(big.Rat).Mul(o.UnitPrice, big.NewRat(int64(o.Quantity), 1)))
		counts[k]++
		n++
		return nil
	})
	out := map[string]total{}
	for k, s := range sums {
		out[k] = total{counts[k], s.FloatString(2)}
	}
	return out, n, err
}

func mongoTotals(ctx context.Context, e Endpoints) (map[string]total, error) {
	m, err := mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	if err != nil {
		return nil, err
	}
	defer m.Disconnect(ctx)
	cur, err := m.Database("orderstream").Collection("customer_totals").Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var docs []docTotal
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := map[string]total{}
	for _, d := range docs {
		out[d.ID] = total{d.Orders, d.Amount}
	}
	return out, nil
}

func checkMonitor(t *testing.T, pages map[string]page) {
	get := func(path string) string {
		p := pages[path]
		require.Equal(t, http.StatusOK, p.status, path)
		return p.body
	}
	assert.Contains(t, get("/"), `<svg id="diagram"`, "the dashboard at /")
	assert.Contains(t, get("/api/state"), `"name":"orders-totals-by-customer"`)
	assert.Contains(t, get("/goka/"), "Monitor")
	assert.Contains(t, get("/monitor/"), "orders-totals-by-customer")
	assert.Contains(t, get("/query/customers/1"), "Emma", "customer 1 of the seed data")
	assert.Contains(t, get("/query/products/19"), "0.10", "product 19's price")
	totals := get("/query/totals/1")
	assert.Contains(t, totals, "order_count&#34;: ")
	assert.Contains(t, totals, "Emma Johnson")
	assert.False(t, strings.Contains(get("/monitor/"), "https://"), "assets are local")
	assert.Contains(t, get("/metrics"), "orderstream_totals_records_total")
	assert.Contains(t, get("/metrics"), `orderstream_consumer_lag{group="orders-totals-by-customer"`, "as README says")
}

func TestClearErrorsBeforeStarting(t *testing.T) {
	base := Options{DataDir: t.TempDir(), MySQLDSN: "u:p@tcp(127.0.0.1:1)/shop", KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0",
		MongoAddr: "127.0.0.1:0", MonitorAddr: "127.0.0.1:0", Log: config.Log{Level: "error", Format: "text"}, Out: io.Discard}

	o := base
	o.DataDir = "/proc/not-writable"
	require.ErrorContains(t, Run(context.Background(), o), "data dir /proc/not-writable")

	o = base
	err := Run(context.Background(), o)
	require.ErrorContains(t, err, "does not answer")
	require.ErrorContains(t, err, "scripts/mariadb.sh start")
	require.NotContains(t, err.Error(), ":p@", "no password in the message")

	// MariaDB answers, but the password is wrong: the fix is the DSN, not
	// starting MariaDB.
	o = base
	wrong, err := mysql.ParseDSN(testkit.MySQL(t))
	require.NoError(t, err)
	wrong.Passwd = "not-the-password"
	o.MySQLDSN = wrong.FormatDSN()
	err = Run(context.Background(), o)
	require.ErrorContains(t, err, "authentication failed")
	require.ErrorContains(t, err, "check the user and password of --mysql.dsn")
	require.NotContains(t, err.Error(), "start it")
	require.NotContains(t, err.Error(), "not-the-password", "no password in the message")

	o = base
	o.MySQLDSN = testkit.MySQL(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	o.RegistryAddr = taken.Addr().String()
	require.ErrorContains(t, Run(context.Background(), o), "schema registry: "+taken.Addr().String()+" is taken")
}

// TestAFailingComponentStopsTheStackWithNothingLeft: when a component
// fails for good (here the CDC source, whose user lacks the replication
// privileges), Run returns its error, and every goroutine it started is
// gone: nothing keeps restart-looping against closed servers.
func TestAFailingComponentStopsTheStackWithNothingLeft(t *testing.T) {
	testkit.Slow(t, "starting the stack")
	dsn := testkit.MySQL(t)
	root, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer root.Close()
	user := fmt.Sprintf("nocdc_%d", time.Now().UnixNano()%1e6)
	_, err = root.Exec("CREATE USER '" + user + "'@'%' IDENTIFIED BY 'pw'")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = root.Exec("DROP USER '" + user + "'@'%'") })
	_, err = root.Exec("GRANT SELECT ON shop.* TO '" + user + "'@'%'")
	require.NoError(t, err)
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	cfg.User, cfg.Passwd = user, "pw"

	defer goleak.VerifyNone(t, append(leakAllowed, goleak.IgnoreCurrent())...)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = Run(ctx, Options{
		DataDir: t.TempDir(), MySQLDSN: cfg.FormatDSN(), KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0",
		MonitorAddr: "127.0.0.1:0", Rate: 10, Retention: time.Hour, RetentionMB: 64, Progress: time.Second,
		Log: config.Log{Level: "error", Format: "text"}, Out: &out,
	})
	require.ErrorContains(t, err, "cdc-source")
	require.ErrorContains(t, err, "lacks a privilege CDC needs")
	require.NoError(t, ctx.Err(), "Run returned on the failure, not at the test's deadline")
}

// leakAllowed are goroutines libraries start once per process and keep by
// design; they are not the stack's.
var leakAllowed = []goleak.Option{
	// sarama's metrics library ticks every meter from one goroutine it
	// starts with the first meter and never stops.
	goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
}
