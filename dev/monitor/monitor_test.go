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
	for _, path := range []string{"/", "/monitor/", "/query/"} {
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
