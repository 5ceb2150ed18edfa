package integration

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/internal/testkit"
)

// process is a child process running one of our binaries.
type process struct {
	t    testing.TB
	name string
	args []string
	cmd  *exec.Cmd
	out  *testkit.Output
	runs int
}

func (p *pipeline) process(name string, args ...string) *process {
	common := []string{"--bootstrap.servers", strings.Join(p.brokers, ","), "--schema.registry.url", p.regURL,
		"--session.timeout.ms", "6000", "--log.level", "warn", "--http.addr", "127.0.0.1:0"}
	s := &process{t: p.t, name: name, args: append(common, args...), out: &testkit.Output{}}
	p.t.Cleanup(func() {
		s.stop()
		if p.t.Failed() {
			p.t.Logf("%s output (last lines):\n%s", name, s.out.Tail(40))
		}
	})
	return s
}

func (s *process) start() {
	s.cmd = exec.Command(filepath.Join(bin, s.name), s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	fmt.Fprintf(s.out, "--- start %d\n", s.runs)
	require.NoError(s.t, s.cmd.Start())
	s.runs++
}

// kill SIGKILLs the running process, after checking it was still running.
func (s *process) kill() {
	require.NoError(s.t, s.cmd.Process.Signal(syscall.Signal(0)), "%s died on its own:\n%s", s.name, s.out.Tail(40))
	require.NoError(s.t, s.cmd.Process.Kill())
	_ = s.cmd.Wait()
}

// stop ends the process with SIGTERM, as an operator would.
func (s *process) stop() {
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// TestCrashedProcessorsKeepTotalsExact SIGKILLs orders-totals-by-customer,
// then (separately) orders-details, mid-stream while orders keep coming,
// restarts them, and checks that every total equals the sum of the orders.
func TestCrashedProcessorsKeepTotalsExact(t *testing.T) {
	testkit.Slow(t, "a crash test")
	db := openShop(t)
	for _, victim := range []string{"orders-totals-by-customer", "orders-details"} {
		t.Run(victim, func(t *testing.T) {
			testkit.Clusters(t, func(t *testing.T, brokers []string) {
				p := newPipeline(t, brokers)
				catalog := p.loadCatalog(db)
				details := p.process("orders-details", "--group.id", string(p.detailsID), "--retry.backoff", "1s",
					"--topic.orders", string(p.details.Orders), "--topic.customers", string(p.details.Customers),
					"--topic.products", string(p.details.Products), "--topic.order.details", string(p.details.Details),
					"--topic.retry", string(p.details.Retry), "--topic.dlq", string(p.details.DeadLetter))
				totals := p.process("orders-totals-by-customer", "--group.id", string(p.totalsID),
					"--topic.order.details", string(p.totals.Details), "--topic.customer.totals", string(p.totals.Totals),
					"--topic.dlq", string(p.totals.DeadLetter))
				killed := map[string]*process{"orders-details": details, "orders-totals-by-customer": totals}[victim]

				ctx := context.Background()
				p.produce(ctx, db, catalog, 20_000, 0)
				details.start()
				totals.start()
				// More orders keep arriving while the victim is killed.
				produced := p.produceAsync(ctx, db, catalog, 30_000, 2_000)

				w := p.watchTotals()
				for _, at := range []int64{8_000, 25_000} {
					w.awaitCounted(at, 3*time.Minute)
					t.Logf("SIGKILL %s at %d orders counted", victim, w.counted())
					killed.kill()
					killed.start()
				}
				require.NoError(t, <-produced)
				want, n := p.expectedTotals()
				require.Equal(t, int64(50_000), n)
				w.await(want, 4*time.Minute)
				t.Logf("totals of %d orders exact after %d kills of %s", n, killed.runs-1, victim)
				details.stop()
				totals.stop()
				p.assertEmpty(p.details.DeadLetter, p.totals.DeadLetter)
			})
		})
	}
}
