package monitor

import (
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestPagesUseLocalAssets(t *testing.T) {
	s := New()
	for _, path := range []string{"/goka/", "/monitor/", "/query/"} {
		code, body := get(t, s, path)
		require.Equal(t, http.StatusOK, code, path)
		assert.NotContains(t, body, "https://", path)
		assert.NotContains(t, body, "//ajax.googleapis.com", path)
		assert.Contains(t, body, "/assets/bootstrap/css/bootstrap.min.css", path)
	}
	for _, asset := range []string{"/assets/jquery/jquery.min.js", "/assets/bootstrap/js/bootstrap.min.js",
		"/assets/lodash/lodash.min.js", "/assets/d3/d3.min.js", "/assets/bootstrap/css/bootstrap-theme.min.css"} {
		code, body := get(t, s, asset)
		assert.Equal(t, http.StatusOK, code, asset)
		assert.Greater(t, len(body), 10_000, asset)
	}
}

func TestHumanizeWritesDecimals(t *testing.T) {
	st := &avro.CustomerTotalState{CustomerID: 7, CustomerName: "Ada", OrderCount: 2, TotalAmount: big.NewRat(10005, 100)}
	out, err := Humanize(codecs.Decoded[avro.CustomerTotalState]{Value: st})
	require.NoError(t, err)
	assert.Contains(t, out, `"total_amount": "100.05"`)
	assert.Contains(t, out, `"customer_name": "Ada"`)

	out, err = Humanize(codecs.Decoded[avro.Customer]{Err: errors.New("garbage")})
	require.NoError(t, err)
	assert.Contains(t, out, "does not decode: garbage")
}

// TestPagesAreLegible: a title on every page, the slash-less paths
// redirect, edges named by topic and schema, idle tables not "stalled".
func TestPagesAreLegible(t *testing.T) {
	s := New()
	for _, path := range []string{"/goka/", "/monitor/", "/query/"} {
		code, body := get(t, s, path)
		require.Equal(t, http.StatusOK, code, path)
		assert.Regexp(t, `<title>[^<]+ · Goka monitor · orderstream</title>`, body, path)
		assert.Contains(t, body, ".row{margin-left:0", path)
	}
	for _, path := range []string{"/goka", "/monitor", "/query"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusMovedPermanently, rec.Code, path)
		assert.Equal(t, path+"/", rec.Header().Get("Location"), path)
	}

	page := legible([]byte(`<title></title><ul>
<li>INPUT: order-details &rarr; codecs.Lenient[github.com/orderstream/pipeline/avro.OrderDetails]</li>
<li>OUTPUT: customer-totals &rarr; *codecs.Avro[github.com/orderstream/pipeline/avro.CustomerTotal]</li>
<li>OUTPUT: orders-details-dlq &rarr; *codec.Bytes</li></ul>
<script>if (stats.Stalled) { status = "stalled"; }</script>`))
	assert.Contains(t, string(page), "<title>Index · Goka monitor · orderstream</title>")
	assert.Contains(t, string(page), "<li>INPUT: order-details (io.orderstream.OrderDetails, Avro)</li>")
	assert.Contains(t, string(page), "<li>OUTPUT: customer-totals (io.orderstream.CustomerTotal, Avro)</li>")
	assert.Contains(t, string(page), "<li>OUTPUT: orders-details-dlq (bytes as read)</li>")
	assert.NotContains(t, string(page), "github.com/")
	assert.Contains(t, string(page), `"up to date, idle"`)
	assert.NotContains(t, string(page), `status = "stalled"`)
}
