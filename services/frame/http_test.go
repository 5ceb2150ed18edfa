package frame

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthReadinessAndMetrics(t *testing.T) {
	e := &Env{Flags: &Flags{Name: "test"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before the work starts")
	e.SetReady(true)
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusOK, code)
	code, body := get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "go_goroutines")
}

func TestServeHTTPReportsATakenPort(t *testing.T) {
	taken := httptest.NewServer(http.NotFoundHandler())
	defer taken.Close()
	e := &Env{Flags: &Flags{Name: "test", HTTPAddr: taken.Listener.Addr().String()}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := e.ServeHTTP(t.Context())
	require.ErrorContains(t, err, "address already in use")
	require.ErrorContains(t, err, "--http.addr")
}
