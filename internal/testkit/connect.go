package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ConnectSetup is the command that provides a Kafka Connect worker.
const ConnectSetup = `scripts/kafka.sh start && scripts/connect.sh start && export "$(scripts/connect.sh env)"`

// Connect is the REST API of a real Kafka Connect worker (scripts/connect.sh).
type Connect struct {
	URL string
	t   testing.TB
	hc  *http.Client
}

// KafkaConnect returns a Kafka Connect worker whose cluster is the Kafka at
// brokers: the one CONNECT_URL names, else the one scripts/connect.sh runs
// (`scripts/connect.sh start`: started when it is not running, and then
// stopped at the end of the test; reused when it is). A worker that is
// missing or runs on another Kafka cluster fails the test under CI=true and
// skips it elsewhere, naming the command that provides it. Locally the
// worker is only started when its jars are fetched already
// (scripts/connect.sh fetch), so that a plain `go test ./...` downloads
// nothing.
func KafkaConnect(t testing.TB, brokers []string) *Connect {
	t.Helper()
	c := &Connect{t: t, hc: &http.Client{Timeout: 30 * time.Second}}
	if u := os.Getenv("CONNECT_URL"); u != "" {
		c.URL = strings.TrimRight(u, "/")
		if err := c.ping(); err != nil {
			need(t, "the Kafka Connect worker at "+u, ConnectSetup+" ("+err.Error()+")")
		}
	} else {
		c.URL = c.startScript(brokers)
	}
	c.sameCluster(brokers)
	return c
}

// startScript runs scripts/connect.sh start against brokers and returns the
// worker's URL.
func (c *Connect) startScript(brokers []string) string {
	t := c.t
	root, err := moduleRoot()
	require.NoError(t, err)
	script := filepath.Join(root, "scripts", "connect.sh")
	if _, err := exec.LookPath("java"); err != nil {
		need(t, "Kafka Connect (no java)", ConnectSetup)
	}
	env := append(os.Environ(), "CONNECT_BOOTSTRAP_SERVERS="+strings.Join(brokers, ","))
	if os.Getenv("CI") != "true" {
		// Locally: only with the jars already fetched.
		matches, _ := filepath.Glob(filepath.Join(root, ".cache", "connect-*", ".fetch-complete"))
		if os.Getenv("CONNECT_CACHE_DIR") != "" {
			matches, _ = filepath.Glob(filepath.Join(os.Getenv("CONNECT_CACHE_DIR"), ".fetch-complete"))
		}
		if len(matches) == 0 {
			need(t, "Kafka Connect (jars not fetched)", "scripts/connect.sh fetch, or "+ConnectSetup)
		}
	}
	status := exec.Command("bash", script, "status")
	status.Env = env
	wasRunning := status.Run() == nil

	start := exec.Command("bash", script, "start")
	start.Env = env
	var out bytes.Buffer
	start.Stdout, start.Stderr = &out, &out
	t0 := time.Now()
	if err := start.Run(); err != nil {
		need(t, "Kafka Connect", fmt.Sprintf("%s (scripts/connect.sh start failed: %v)\n%s", ConnectSetup, err, out.String()))
	}
	if !wasRunning {
		t.Logf("started Kafka Connect with scripts/connect.sh in %v", time.Since(t0).Round(100*time.Millisecond))
		t.Cleanup(func() {
			stop := exec.Command("bash", script, "stop")
			stop.Env = env
			if b, err := stop.CombinedOutput(); err != nil {
				t.Logf("scripts/connect.sh stop: %v\n%s", err, b)
			}
		})
	}
	envCmd := exec.Command("bash", script, "env")
	envCmd.Env = env
	b, err := envCmd.Output()
	require.NoError(t, err)
	u, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "CONNECT_URL=")
	require.True(t, ok, "scripts/connect.sh env printed %q", b)
	return u
}

func (c *Connect) ping() error {
	var info struct {
		Version string `json:"version"`
	}
	if _, err := c.do(http.MethodGet, "/", nil, &info); err != nil {
		return err
	}
	if info.Version == "" {
		return fmt.Errorf("GET / answered without a version: not a Kafka Connect worker?")
	}
	return nil
}

// sameCluster fails the test when the worker's Kafka cluster is not the one
// at brokers (a worker started earlier against another broker).
func (c *Connect) sameCluster(brokers []string) {
	t := c.t
	var info struct {
		Version   string `json:"version"`
		ClusterID string `json:"kafka_cluster_id"`
	}
	_, err := c.do(http.MethodGet, "/", nil, &info)
	require.NoError(t, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	require.NoError(t, err)
	require.Equal(t, m.Cluster, info.ClusterID, "the Kafka Connect worker at %s (Kafka Connect %s) belongs to another Kafka cluster than %v: stop it (scripts/connect.sh stop) or point CONNECT_URL at one on this broker", c.URL, info.Version, brokers)
}

// do sends a request with body (marshalled to JSON unless nil) and decodes
// a 2xx answer into out (unless nil). It returns the status code; an answer
// outside 2xx is an error carrying the worker's message.
func (c *Connect) do(method, path string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.URL+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// Plugin is an entry of GET /connector-plugins.
type Plugin struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version"`
}

// Plugins lists the worker's connector plugins.
func (c *Connect) Plugins() []Plugin {
	var out []Plugin
	_, err := c.do(http.MethodGet, "/connector-plugins", nil, &out)
	require.NoError(c.t, err)
	return out
}

// Validate runs PUT /connector-plugins/<connector.class>/config/validate and
// returns "setting: message" for every error the worker reports.
func (c *Connect) Validate(config map[string]string) []string {
	var out struct {
		ErrorCount int `json:"error_count"`
		Configs    []struct {
			Value struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	_, err := c.do(http.MethodPut, "/connector-plugins/"+url.PathEscape(config["connector.class"])+"/config/validate", config, &out)
	require.NoError(c.t, err)
	var errs []string
	for _, cv := range out.Configs {
		for _, e := range cv.Value.Errors {
			errs = append(errs, cv.Value.Name+": "+e)
		}
	}
	require.Len(c.t, errs, out.ErrorCount, "error_count and the errors listed differ")
	return errs
}

// Put creates or updates the connector config["name"].
func (c *Connect) Put(config map[string]string) {
	_, err := c.do(http.MethodPut, "/connectors/"+url.PathEscape(config["name"])+"/config", config, nil)
	require.NoError(c.t, err)
}

// Delete removes a connector (no error when there is none).
func (c *Connect) Delete(name string) {
	code, err := c.do(http.MethodDelete, "/connectors/"+url.PathEscape(name), nil, nil)
	if err != nil && code != http.StatusNotFound {
		c.t.Errorf("deleting connector %s: %v", name, err)
	}
}

// ConnectorStatus is GET /connectors/<name>/status.
type ConnectorStatus struct {
	Name      string `json:"name"`
	Connector struct {
		State   string `json:"state"`
		Trace   string `json:"trace"`
		Version string `json:"version"`
	} `json:"connector"`
	Tasks []struct {
		ID      int    `json:"id"`
		State   string `json:"state"`
		Trace   string `json:"trace"`
		Version string `json:"version"`
	} `json:"tasks"`
}

// Running reports whether the connector and at least one task, and every
// task, are RUNNING.
func (s ConnectorStatus) Running() bool {
	if s.Connector.State != "RUNNING" || len(s.Tasks) == 0 {
		return false
	}
	for _, tk := range s.Tasks {
		if tk.State != "RUNNING" {
			return false
		}
	}
	return true
}

// Failed reports whether the connector or a task is FAILED.
func (s ConnectorStatus) Failed() bool {
	if s.Connector.State == "FAILED" {
		return true
	}
	for _, tk := range s.Tasks {
		if tk.State == "FAILED" {
			return true
		}
	}
	return false
}

// String is the states, with the last "Caused by" of a trace.
func (s ConnectorStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connector %s", s.Connector.State)
	if s.Connector.Trace != "" {
		fmt.Fprintf(&b, " (%s)", cause(s.Connector.Trace))
	}
	for _, tk := range s.Tasks {
		fmt.Fprintf(&b, ", task %d %s", tk.ID, tk.State)
		if tk.Trace != "" {
			fmt.Fprintf(&b, " (%s)", cause(tk.Trace))
		}
	}
	return b.String()
}

func cause(trace string) string {
	lines := strings.Split(trace, "\n")
	c := lines[0]
	for _, l := range lines {
		if strings.HasPrefix(l, "Caused by: ") {
			c = l
		}
	}
	return c
}

// Status returns the connector's status; ok is false while the worker does
// not know it (yet).
func (c *Connect) Status(name string) (ConnectorStatus, bool) {
	var st ConnectorStatus
	if _, err := c.do(http.MethodGet, "/connectors/"+url.PathEscape(name)+"/status", nil, &st); err != nil {
		return st, false
	}
	return st, true
}

// AwaitStatus waits until the connector's status satisfies ok, failing the
// test after timeout with the last status seen.
func (c *Connect) AwaitStatus(name string, timeout time.Duration, what string, ok func(ConnectorStatus) bool) ConnectorStatus {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, known := c.Status(name)
		if known && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("connector %s: not %s after %v: %v", name, what, timeout, st)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// AwaitRunning waits until the connector and its tasks are RUNNING; a
// FAILED one fails the test at once with its trace.
func (c *Connect) AwaitRunning(name string, timeout time.Duration) {
	c.t.Helper()
	st := c.AwaitStatus(name, timeout, "RUNNING", func(st ConnectorStatus) bool { return st.Running() || st.Failed() })
	if st.Failed() {
		c.t.Fatalf("connector %s FAILED: %v", name, st)
	}
}
