package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func TestExitCodes(t *testing.T) {
	// An address nothing listens on: listen, note it, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/readyz"
	ln.Close()

	slow := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	redirect := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			return
		}
		http.Redirect(w, r, "/ok", http.StatusFound)
	})

	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"200", []string{serve(t, status(200)) + "/readyz"}, 0},
		{"204", []string{serve(t, status(204))}, 0},
		{"redirect to 200", []string{redirect + "/readyz"}, 0},
		{"404", []string{serve(t, status(404))}, 1},
		{"500", []string{serve(t, status(500))}, 1},
		{"503 not ready", []string{serve(t, status(503))}, 1},
		{"unreachable", []string{closed}, 1},
		{"timeout", []string{"--timeout", "200ms", slow}, 1},
		{"no URL", nil, 1},
		{"two URLs", []string{"http://a/", "http://b/"}, 1},
		{"not http", []string{"ftp://127.0.0.1/"}, 1},
		{"no host", []string{"readyz"}, 1},
		{"bad flag", []string{"--nope", "http://127.0.0.1/"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			start := time.Now()
			if got := run(tc.args, &out, &errOut); got != tc.want {
				t.Errorf("run(%q) = %d, want %d; stdout %q, stderr %q", tc.args, got, tc.want, out.String(), errOut.String())
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("took %s: the timeout does not bound the check", d)
			}
			if tc.want == 1 && errOut.Len() == 0 {
				t.Errorf("exit 1 without a reason on stderr")
			}
		})
	}
}

func TestDefaultTimeoutIsShort(t *testing.T) {
	// Docker kills a healthcheck after its own timeout; ours must come first
	// with a message. The compose file uses timeout: 5s.
	var out, errOut bytes.Buffer
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	start := time.Now()
	if got := run([]string{slow}, &out, &errOut); got != 1 {
		t.Fatalf("exit %d, want 1", got)
	}
	if d := time.Since(start); d < 2*time.Second || d > 4*time.Second {
		t.Errorf("default timeout took %s, want about 3s", d)
	}
	if !strings.Contains(errOut.String(), "no answer within 3s") {
		t.Errorf("stderr %q does not name the timeout", errOut.String())
	}
}
