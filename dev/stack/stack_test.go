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
	if testing.Short() {
		t.Skip("runs the whole stack")
	}
	dsn := testkit.MySQL(t)
	dir := t.TempDir()
	before := append(leakAllowed, goleak.IgnoreCurrent())
	for run, orders := range []int64{3000, 2000} {
		var out bytes.Buffer
		checked := false
		err := Run(context.Background(), Options{
			DataDir: dir, MySQLDSN: dsn, KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", MongoAddr: "127.0.0.1:0",
			MonitorAddr: "127.0.0.1:0", Rate: 0, Orders: orders, Retention: time.Hour, RetentionMB: 64, Progress: 200 * time.Millisecond,
			Log: config.Log{Level: "warn", Format: "text"}, Out: &out,
			Check: func(ctx context.Context, e Endpoints) error {
				checked = true
				want, n := expectedTotals(t, e)
				assert.Equal(t, int64(3000+2000*run), n, "orders on the topic after run %d", run+1)
				assert.Equal(t, want, mongoTotals(t, e), "MongoDB documents equal the totals from the orders topic")
				checkMonitor(t, e)
				return nil
			},
		})
		require.NoError(t, err, out.String())
		require.True(t, checked, "the run ended without reaching its orders:\n%s", out.String())
		// Everything the run started is gone: the next run has the data
		// dir to itself.
		require.NoError(t, goleak.Find(before...), "goroutines left by run %d", run+1)
		assert.Contains(t, out.String(), "orders produced and totalled")
		assert.Contains(t, out.String(), "rank")
	}
}

type total struct {
	orders int64
	amount string
}

func expectedTotals(t *testing.T, e Endpoints) (map[string]total, int64) {
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...))
	require.NoError(t, err)
	defer cl.Close()
	srcl, err := sr.NewClient(sr.URLs(e.RegistryURL))
	require.NoError(t, err)
	codec, err := codecs.NewAvro[avro.Order](ctx, codecs.NewRegistry(srcl), "orders-value", avro.OrderSchema)
	require.NoError(t, err)
	sums, counts := map[string]*big.Rat{}, map[string]int64{}
	var n int64
	require.NoError(t, topics.ReadToEnd(ctx, cl, "orders", func(r *kgo.Record) error {
		o, err := codec.DecodeValue(r.Value)
		require.NoError(t, err)
		k := string(r.Key)
		if sums[k] == nil {
			sums[k] = new(big.Rat)
		}
		sums[k].Add(sums[k], new(big.Rat).Mul(o.UnitPrice, big.NewRat(int64(o.Quantity), 1)))
		counts[k]++
		n++
		return nil
	}))
	out := map[string]total{}
	for k, s := range sums {
		out[k] = total{counts[k], s.FloatString(2)}
	}
	return out, n
}

func mongoTotals(t *testing.T, e Endpoints) map[string]total {
	ctx := context.Background()
	m, err := mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	require.NoError(t, err)
	defer m.Disconnect(ctx)
	cur, err := m.Database("orderstream").Collection("customer_totals").Find(ctx, bson.D{})
	require.NoError(t, err)
	var docs []docTotal
	require.NoError(t, cur.All(ctx, &docs))
	out := map[string]total{}
	for _, d := range docs {
		out[d.ID] = total{d.Orders, d.Amount}
	}
	return out
}

func checkMonitor(t *testing.T, e Endpoints) {
	get := func(path string) string {
		res, err := http.Get(e.MonitorURL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		return string(b)
	}
	assert.Contains(t, get("/"), "Monitor")
	assert.Contains(t, get("/monitor/"), "orders-totals-by-customer")
	assert.Contains(t, get("/query/customers/1"), "Emma", "customer 1 of the seed data")
	assert.Contains(t, get("/query/products/19"), "0.10", "product 19's price")
	totals := get("/query/totals/1")
	assert.Contains(t, totals, "order_count&#34;: ")
	assert.Contains(t, totals, "Emma Johnson")
	assert.False(t, strings.Contains(get("/monitor/"), "https://"), "assets are local")
	assert.Contains(t, get("/metrics"), "orderstream_totals_records_total")
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
	if testing.Short() {
		t.Skip("starts the stack")
	}
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
