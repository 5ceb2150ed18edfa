package cdc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/orderstream/pipeline/internal/testkit"
)

var binary string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "cdc-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "cdc-source")
		cmd := exec.Command("go", "build", "-o", binary, "../../cmd/cdc-source")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building cdc-source:", err)
			return 1
		}
		return m.Run()
	}())
}

// startBinary runs the cdc-source binary on the fixture.
func (f *fixture) startBinary(out *testkit.Output, extra ...string) *exec.Cmd {
	args := []string{"--bootstrap.servers", strings.Join(f.brokers, ","), "--schema.registry.url", f.url,
		"--mysql.dsn", f.dsn, "--database", f.db, "--name", f.opts.Name,
		"--topic.customers", f.opts.Tables[0].Topic, "--topic.products", f.opts.Tables[1].Topic,
		"--offsets.topic", f.opts.OffsetsTopic, "--topic.dlq", f.opts.DeadLetterTopic,
		"--offset.flush.interval.ms", "100", "--log.level", "warn", "--http.addr", "127.0.0.1:0"}
	cmd := exec.Command(binary, append(args, extra...)...)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(f.t, cmd.Start())
	return cmd
}

func (f *fixture) records() int64 {
	ends, err := kadm.NewClient(f.cl).ListEndOffsets(context.Background(), f.opts.Tables[0].Topic, f.opts.Tables[1].Topic)
	require.NoError(f.t, err)
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// load changes customers and products at random until stopped.
func (f *fixture) load(ctx context.Context, seed uint64) <-chan error {
	done := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(seed, 1))
		next := 5000
		for ctx.Err() == nil {
			var err error
			switch r := rng.IntN(10); {
			case r < 5:
				next++
				_, err = f.root.Exec("INSERT INTO customers (id, first_name, last_name, email, credit_card, created_at, updated_at) VALUES (?, 'Load', ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
					next, fmt.Sprintf("Tester %d ✓", next), fmt.Sprintf("load%d@example.com", next), fmt.Sprintf("4%015d", next))
			case r < 7:
				_, err = f.root.Exec("UPDATE customers SET city = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ?", fmt.Sprintf("City %d", rng.IntN(1000)), 1+rng.IntN(100))
			case r < 9:
				_, err = f.root.Exec("UPDATE products SET price = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ?", fmt.Sprintf("%d.%02d", rng.IntN(2000), rng.IntN(100)), 1+rng.IntN(50))
			default:
				_, err = f.root.Exec("DELETE FROM customers WHERE id = ?", 5000+rng.IntN(max(next-5000, 1)+1))
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// TestKilledSourceLosesNoChange SIGKILLs the cdc-source binary three times
// while rows change; in the end the last record per key of each topic equals
// the row in MySQL (deleted rows: a tombstone last).
func TestKilledSourceLosesNoChange(t *testing.T) {
	testkit.Slow(t, "a crash test")
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		f := newFixture(t, brokers)
		out := &testkit.Output{}
		defer func() {
			if t.Failed() {
				t.Logf("cdc-source output:\n%s", out.String())
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		loadDone := f.load(ctx, 7)
		cmd := f.startBinary(out)
		for kill := 1; kill <= 3; kill++ {
			target := f.records() + 300
			deadline := time.Now().Add(time.Minute)
			for f.records() < target {
				require.True(t, time.Now().Before(deadline), "the source made no progress:\n%s", out.String())
				time.Sleep(20 * time.Millisecond) // polling interval
			}
			require.NoError(t, cmd.Process.Signal(syscall.Signal(0)), "cdc-source died on its own:\n%s", out.String())
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			t.Logf("SIGKILL %d at %d records", kill, f.records())
			cmd = f.startBinary(out)
		}
		cancel()
		require.NoError(t, <-loadDone)
		f.await(2 * time.Minute)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, cmd.Wait(), "a graceful stop exits 0")
		f.assertNoCardNumbers(f.cardNumbers())
	})
}
