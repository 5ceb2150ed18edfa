package mongosink

import (
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func mustEncode(t testing.TB, c *codecs.Avro[avro.CustomerTotal], id int64, amount string) []byte {
	t.Helper()
	v, err := c.Encode(&avro.CustomerTotal{CustomerID: id, CustomerName: "n", OrderCount: 1, TotalAmount: rat(amount), UpdatedAt: time.UnixMilli(1_700_000_000_000).UTC()})
	require.NoError(t, err)
	return v
}

// flakyRegistry is an in-memory schema registry behind a switch: while down
// is set, every request gets 503.
type flakyRegistry struct {
	client *codecs.Registry
	down   atomic.Bool
}

func newFlakyRegistry(t testing.TB) *flakyRegistry {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	target, err := url.Parse(fake.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	f := &flakyRegistry{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "registry down for the test", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	require.NoError(t, err)
	f.client = codecs.NewRegistry(cl, codecs.WithRequestTimeout(2*time.Second))
	return f
}

// withExtraField returns schema with one more field (with a default): a
// newer writer schema the reader resolves.
func withExtraField(t testing.TB, schema string) string {
	var s map[string]any
	require.NoError(t, json.Unmarshal([]byte(schema), &s))
	s["fields"] = append(s["fields"].([]any), map[string]any{"name": "channel", "type": "string", "default": ""})
	out, err := json.Marshal(s)
	require.NoError(t, err)
	return string(out)
}

// totalV2 is CustomerTotal written with the newer schema.
type totalV2 struct {
	CustomerID    int64      `avro:"customer_id"`
	CustomerName  string     `avro:"customer_name"`
	CustomerEmail *string    `avro:"customer_email"`
	OrderCount    int64      `avro:"order_count"`
	TotalAmount   *big.Rat   `avro:"total_amount"`
	LastOrderID   *string    `avro:"last_order_id"`
	LastOrderAt   *time.Time `avro:"last_order_at"`
	UpdatedAt     time.Time  `avro:"updated_at"`
	Channel       string     `avro:"channel"`
}

// encodeExtra encodes a total with the newer schema id.
func encodeExtra(t testing.TB, reg *codecs.Registry, subject string, id int64, amount string) []byte {
	t.Helper()
	c, err := codecs.NewAvro[totalV2](context.Background(), reg, subject, withExtraField(t, avro.CustomerTotalSchema))
	require.NoError(t, err)
	v, err := c.Encode(&totalV2{CustomerID: id, CustomerName: "n", OrderCount: 1, TotalAmount: rat(amount), UpdatedAt: time.UnixMilli(1_700_000_000_000).UTC(), Channel: "web"})
	require.NoError(t, err)
	return v
}
