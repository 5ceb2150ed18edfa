package frame

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultHTTPAddr is where each service serves /metrics, /healthz and
// /readyz unless --http.addr says otherwise: one port per service, so that
// all of them can run on one machine.
var DefaultHTTPAddr = map[string]string{
	"orders-producer":           "127.0.0.1:9401",
	"orders-details":            "127.0.0.1:9402",
	"orders-totals-by-customer": "127.0.0.1:9403",
	"cdc-source":                "127.0.0.1:9404",
	"mongo-sink":                "127.0.0.1:9405",
}

// ready is set while the service does its work (processors running, source
// streaming, sink consuming): what /readyz reports.
type ready struct{ v atomic.Bool }

// SetReady marks the service ready or not.
func (e *Env) SetReady(ok bool) { e.ready.v.Store(ok) }

// Handler serves /metrics (Prometheus), /healthz (the process answers) and
// /readyz (200 once the service does its work, 503 before and while a
// failed component restarts).
func (e *Env) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !e.ready.v.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// ServeHTTP serves Handler on --http.addr until ctx ends. A taken port is
// an error at start.
func (e *Env) ServeHTTP(ctx context.Context) error {
	addr := e.Flags.HTTPAddr
	if addr == "" || addr == "off" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http.addr %s: %w (another service there? set --http.addr)", addr, err)
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.Log.Error("http server stopped", "err", err)
		}
	}()
	e.Log.Info("serving /metrics, /healthz, /readyz", "http.addr", ln.Addr().String())
	return nil
}

var consumerLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: "orderstream", Name: "consumer_lag",
	Help: "Records not yet consumed by a consumer group of this service, per topic (end offset minus committed offset).",
}, []string{"group", "topic"})

// WatchLag updates the consumer_lag gauge for groups every interval until
// ctx ends.
func (e *Env) WatchLag(ctx context.Context, interval time.Duration, groups ...string) {
	opts, err := e.Flags.Kafka.Franz(e.Log)
	if err != nil {
		e.Log.Warn("consumer lag will not be reported", "err", err)
		return
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		e.Log.Warn("consumer lag will not be reported", "err", err)
		return
	}
	go func() {
		defer cl.Close()
		adm := kadm.NewClient(cl)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			lags, err := adm.Lag(ctx, groups...)
			if err == nil {
				for group, l := range lags {
					if l.Error() != nil {
						continue
					}
					for topic, total := range l.Lag.TotalByTopic() {
						consumerLag.WithLabelValues(group, topic).Set(float64(total.Lag))
					}
				}
			} else if ctx.Err() == nil {
				e.Log.Debug("reading consumer lag", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}
