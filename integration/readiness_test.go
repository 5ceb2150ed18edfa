package integration

import (
	"context"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/connectors/mongosink"
	"github.com/orderstream/pipeline/dev/mongoserver"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

// The readiness of each service, as /readyz answers it (issue 9, path 5):
// 503 while the component cannot do its work, 200 again once it can. The
// processors' readiness is tested in services/frame (RunProcessors, which
// both processors run).

// readyz is what /readyz?format=json answers.
type readyz struct {
	code       int
	Ready      bool               `json:"ready"`
	Components []frame.PartStatus `json:"components"`
}

func getReadyz(t *testing.T, srv *httptest.Server) readyz {
	t.Helper()
	res, err := http.Get(srv.URL + "/readyz?format=json")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	r := readyz{code: res.StatusCode}
	require.NoError(t, json.Unmarshal(b, &r), string(b))
	return r
}

// awaitReadyz waits until /readyz answers code, with reason in the
// reasons it gives.
func awaitReadyz(t *testing.T, srv *httptest.Server, code int, reason string) readyz {
	t.Helper()
	var last readyz
	testkit.Await(t, 3*time.Minute, "/readyz answers "+http.StatusText(code), func() (bool, string) {
		last = getReadyz(t, srv)
		reasons := ""
		for _, c := range last.Components {
			reasons += c.Reason + "\n"
		}
		return last.code == code && strings.Contains(reasons, reason), strings.TrimSpace(reasons)
	})
	return last
}

// serveHealth serves the component's /metrics, /healthz and /readyz.
func serveHealth(t *testing.T, env *frame.Env) *httptest.Server {
	srv := httptest.NewServer(env.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// tcpProxy forwards connections to target; down closes the listener and
// every connection (the server is gone, as far as a client can tell), up
// listens again on the same address.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
	c.Close()
}

func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// TestCDCSourceNotReadyWhileMySQLIsDown: cdc-source is ready while it
// captures; when MySQL goes away (a proxy in front of the private MariaDB
// closes every connection and refuses new ones: the shared MariaDB itself
// stays up for the other tests) /readyz is 503, naming the failure, for as
// long as it is away; 200 again once MySQL is back and it captures again.
func TestCDCSourceNotReadyWhileMySQLIsDown(t *testing.T) {
	testkit.Slow(t, "a MySQL outage under cdc-source")
	dsn, err := mysql.ParseDSN(testkit.MySQL(t))
	require.NoError(t, err)
	proxy := newTCPProxy(t, dsn.Addr)
	dsn.Addr = proxy.addr

	p := newPipeline(t, testkit.Kfake(t))
	prefix := strings.TrimSuffix(string(p.details.Orders), "-orders")
	src := &services.CDC{}
	services.Defaults(src)
	src.Options.DSN, src.Options.Name = dsn.FormatDSN(), prefix+"-cdc"
	src.Options.Tables[0].Topic, src.Options.Tables[1].Topic = string(p.details.Customers), string(p.details.Products)
	src.Options.OffsetsTopic, src.Options.DeadLetterTopic = prefix+"-cdc-offsets", prefix+"-cdc-dlq"
	r, _ := p.recordedComponent("cdc-source", src)
	srv := serveHealth(t, r.env)

	awaitReadyz(t, srv, http.StatusOK, "")
	proxy.down()
	down := awaitReadyz(t, srv, http.StatusServiceUnavailable, "restarting in")
	t.Logf("MySQL down: %s", down.Components[0].Reason)
	for range 5 { // and stays so while MySQL is away
		require.Equal(t, http.StatusServiceUnavailable, getReadyz(t, srv).code)
	}
	proxy.up()
	awaitReadyz(t, srv, http.StatusOK, "")
	require.NoError(t, r.stop())
}

// TestMongoSinkNotReadyWhileMongoDBIsDown: mongo-sink is ready while
// MongoDB answers; stopped, /readyz is 503 naming MongoDB (a write fails,
// or the idle ping does) while it is away; started again on the same port
// and data, 200, and what arrived meanwhile is written.
func TestMongoSinkNotReadyWhileMongoDBIsDown(t *testing.T) {
	testkit.Slow(t, "a MongoDB outage under mongo-sink")
	p := newPipeline(t, testkit.Kfake(t))
	dir := t.TempDir()
	mongoSrv, err := mongoserver.Start(context.Background(), mongoserver.Options{Dir: dir, Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { mongoSrv.Close() })
	prefix := strings.TrimSuffix(string(p.details.Orders), "-orders")
	sink := &services.Sink{}
	services.Defaults(sink)
	sink.Compat = mongosink.CompatFerretDB
	// Quick to give up on a server that does not answer, so that the
	// failure shows within the test.
	sink.URI = mongoSrv.URI() + "?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000"
	sink.WriteTimeout = 2 * time.Second
	sink.Database, sink.Topic = strings.ReplaceAll(prefix, "-", "_"), string(p.totals.Totals)
	sink.Group, sink.DLQ = prefix+"-mongo-sink", prefix+"-mongo-sink-dlq"
	r, _ := p.recordedComponent("mongo-sink", sink)
	srv := serveHealth(t, r.env)
	codec, err := codecs.NewAvro[avro.CustomerTotal](context.Background(), p.reg, codecs.ValueSubject(sink.Topic), avro.CustomerTotalSchema)
	require.NoError(t, err)
	write := func(customer int64, orders int64, amount string) {
		a, _ := new(big.Rat).SetString(amount)
		v, err := codec.Encode(&avro.CustomerTotal{CustomerID: customer, CustomerName: "A Customer", OrderCount: orders,
			TotalAmount: a, UpdatedAt: time.Now().UTC().Truncate(time.Millisecond)})
		require.NoError(t, err)
		require.NoError(t, p.client.ProduceSync(context.Background(),
			&kgo.Record{Topic: sink.Topic, Key: []byte(codecs.Key(customer)), Value: v}).FirstErr())
	}

	write(1, 1, "10.00")
	awaitReadyz(t, srv, http.StatusOK, "")
	addr := mongoSrv.Addr()
	require.NoError(t, mongoSrv.Close())
	write(1, 2, "25.50") // to be written once MongoDB is back
	down := awaitReadyz(t, srv, http.StatusServiceUnavailable, "MongoDB at")
	t.Logf("MongoDB down: %s", down.Components[0].Reason)

	mongoSrv, err = mongoserver.Start(context.Background(), mongoserver.Options{Dir: dir, Addr: addr})
	require.NoError(t, err, "MongoDB again on the same port and data")
	t.Cleanup(func() { mongoSrv.Close() })
	awaitReadyz(t, srv, http.StatusOK, "")
	coll := mongoClient(t, mongoSrv.URI()).Database(sink.Database).Collection(sink.Collection)
	testkit.Await(t, 3*time.Minute, "the total written while MongoDB was down is in MongoDB", func() (bool, string) {
		got := mongoTotals(t, coll)
		return got["1"] == total{2, "25.50"}, diff(got, map[string]total{"1": {2, "25.50"}})
	})
	require.NoError(t, r.stop())
}
