package frame

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Handler serves /metrics (Prometheus), /healthz (the process answers) and
// /readyz: 200 while every component of the process does its work, 503
// before, and whenever one cannot (a failed component waiting to restart,
// a database that does not answer), with one line per component saying
// why; JSON with ?format=json or Accept: application/json.
func (e *Env) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/readyz", e.health)
	if e.Flags != nil && e.Flags.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ServeHTTP answers /readyz for h.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ready, parts := h.Ready(), h.Parts()
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(struct {
			Ready      bool         `json:"ready"`
			Components []PartStatus `json:"components"`
		}{ready, parts})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if ready {
		fmt.Fprintln(w, "ready")
	} else {
		fmt.Fprintln(w, "not ready")
	}
	for _, p := range parts {
		if p.Ready {
			fmt.Fprintf(w, "%s: ready since %s\n", p.Name, p.Since.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(w, "%s: not ready since %s: %s\n", p.Name, p.Since.UTC().Format(time.RFC3339), p.Reason)
		}
	}
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
// ctx ends, in the background.
func (e *Env) WatchLag(ctx context.Context, interval time.Duration, groups ...string) {
	go e.ReportLag(ctx, interval, groups...)
}

// ReportLag updates the consumer_lag gauge for groups every interval until
// ctx ends, and returns then: for a caller that waits for its goroutines
// (the dev stack).
func (e *Env) ReportLag(ctx context.Context, interval time.Duration, groups ...string) {
	cl, err := e.KafkaClient()
	if err != nil {
		e.Log.Warn("consumer lag will not be reported", "err", err)
		return
	}
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
}
