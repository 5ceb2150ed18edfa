package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/internal/testkit"
)

// freeAddr is an address nothing listens on (listened on, then closed).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// process is the binary running.
type process struct {
	cmd  *exec.Cmd
	out  *testkit.Output
	done chan error
}

func start(t *testing.T, bin string, args ...string) *process {
	p := &process{cmd: exec.Command(bin, args...), out: &testkit.Output{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("schema-registry output:\n%s", p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and returns how the process ended.
func (p *process) stop(t *testing.T) error {
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		return fmt.Errorf("not stopped a minute after SIGTERM")
	}
}

func healthz(url string) (int, string) {
	res, err := http.Get(url + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestBinary runs cmd/schema-registry before its Kafka exists (503 on
// /healthz, naming why), then with it: schemas registered, an incompatible
// one refused with 409, a graceful stop, and the same ids after a restart.
func TestBinary(t *testing.T) {
	testkit.Slow(t, "building and running cmd/schema-registry")
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	bin := filepath.Join(dir, "schema-registry")

	kafkaAddr, listen := freeAddr(t), freeAddr(t)
	url := "http://" + listen
	args := []string{"--bootstrap.servers", kafkaAddr, "--listeners", url, "--log.level", "debug"}
	p := start(t, bin, args...)
	// Up, but no Kafka yet: 503, naming it.
	require.Eventually(t, func() bool { code, _ := healthz(url); return code == http.StatusServiceUnavailable }, time.Minute, 20*time.Millisecond)
	_, body := healthz(url)
	assert.Contains(t, body, "not ready")
	assert.Contains(t, body, kafkaAddr)

	_, port, _ := net.SplitHostPort(kafkaAddr)
	var kport int
	_, err := fmt.Sscan(port, &kport)
	require.NoError(t, err)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(kport))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	// It tries again with backoff (1 s, 2 s, ...) and gets there.
	require.Eventually(t, func() bool { code, _ := healthz(url); return code == http.StatusOK }, time.Minute, 50*time.Millisecond)

	ctx := context.Background()
	c, err := sr.NewClient(sr.URLs(url))
	require.NoError(t, err)
	id, err := c.RegisterSchema(ctx, "customers-value", sr.Schema{Schema: avro.CustomerSchema}, -1, -1)
	require.NoError(t, err)
	incompatible := strings.Replace(avro.CustomerSchema, `{"name": "email", "type": "string"}`, `{"name": "email", "type": "long"}`, 1)
	_, err = c.RegisterSchema(ctx, "customers-value", sr.Schema{Schema: incompatible}, -1, -1)
	var re *sr.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 409, re.ErrorCode)
	res, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Contains(t, string(metrics), `orderstream_schema_registry_registrations_total{outcome="incompatible"} 1`)

	require.NoError(t, p.stop(t), "SIGTERM: a clean exit")

	p = start(t, bin, args...)
	require.Eventually(t, func() bool { code, _ := healthz(url); return code == http.StatusOK }, time.Minute, 20*time.Millisecond)
	got, err := c.SchemaByID(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, avro.CustomerSchema, got.Schema)
	again, err := c.RegisterSchema(ctx, "customers-value", sr.Schema{Schema: avro.CustomerSchema}, -1, -1)
	require.NoError(t, err)
	assert.Equal(t, id, again)
	next, err := c.RegisterSchema(ctx, "products-value", sr.Schema{Schema: avro.ProductSchema}, -1, -1)
	require.NoError(t, err)
	assert.NotEqual(t, id, next)
	require.NoError(t, p.stop(t))
}

// TestTakenPort: a port in use is an error at start, naming the flag.
func TestTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err = Main([]string{"--listeners", ln.Addr().String(), "--bootstrap.servers", freeAddr(t)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set --listeners")
}
