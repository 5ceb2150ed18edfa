package mongosink

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/internal/testkit"
)

// process is a mongo-sink child process.
type process struct {
	t    testing.TB
	args []string
	cmd  *exec.Cmd
	out  *testkit.Output
	runs int
}

func newProcess(t testing.TB, args ...string) *process {
	p := &process{t: t, args: args, out: &testkit.Output{}}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("mongo-sink output (last lines):\n%s", p.out.Tail(40))
		}
	})
	return p
}

// sinkArgs are the flags of a mongo-sink for the fixture.
func (f *fixture) sinkArgs(extra ...string) []string {
	return append([]string{
		"--bootstrap.servers", strings.Join(f.brokers, ","), "--schema.registry.url", f.regURL,
		"--mongodb.uri", f.mongoURI, "--database", f.coll.Database().Name(), "--collection", f.coll.Name(),
		"--topic", f.topic, "--topic.dlq", f.dlq, "--group.id", f.group, "--mongodb.compat", "ferretdb",
		"--session.timeout.ms", "6000", "--log.level", "warn",
	}, extra...)
}

func (p *process) start() {
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	fmt.Fprintf(p.out, "--- start %d\n", p.runs)
	require.NoError(p.t, p.cmd.Start())
	p.runs++
}

// kill SIGKILLs the process, after checking it was still running.
func (p *process) kill() {
	require.NoError(p.t, p.cmd.Process.Signal(syscall.Signal(0)), "mongo-sink died on its own:\n%s", p.out.Tail(40))
	require.NoError(p.t, p.cmd.Process.Kill())
	_ = p.cmd.Wait()
}

// stop sends SIGTERM and returns the exit error (nil for status 0).
func (p *process) stop() error {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-done
		return errors.New("mongo-sink did not stop within a minute of SIGTERM")
	}
}

// TestKilledSinkConverges SIGKILLs the mongo-sink binary twice while it
// works through a stream that keeps growing, restarts it each time, and
// checks that the collection ends with exactly the latest total of every
// customer and that a SIGTERM stop exits 0 with everything committed.
func TestKilledSinkConverges(t *testing.T) {
	testkit.Slow(t, "a crash test")
	mongo := startMongo(t)
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		f := newFixture(t, brokers, 3, mongo.URI())
		h := newHistory(3)
		const total, keys = 30_000, 500
		recs := make([]*kgo.Record, total)
		for i := range recs {
			recs[i] = h.next(f, keys)
		}
		ctx := context.Background()
		require.NoError(t, f.client.ProduceSync(ctx, recs[:10_000]...).FirstErr())

		p := newProcess(t, f.sinkArgs("--batch.size", "20", "--max.buffered.keys", "200", "--flush.interval.ms", "100")...)
		p.start()
		// The rest keeps arriving, in small paced batches, while the sink
		// is killed.
		produced := make(chan error, 1)
		go func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for chunk := range slices.Chunk(recs[10_000:], 200) {
				<-tick.C
				if err := f.client.ProduceSync(ctx, chunk...).FirstErr(); err != nil {
					produced <- err
					return
				}
			}
			produced <- nil
		}()

		for _, at := range []int64{3_000, 15_000} {
			testkit.Await(t, 3*time.Minute, fmt.Sprintf("%d records committed", at), func() (bool, string) {
				n := f.committedTotal()
				return n >= at, fmt.Sprintf("%d committed", n)
			})
			t.Logf("SIGKILL mongo-sink at %d records committed", f.committedTotal())
			p.kill()
			p.start()
		}
		require.NoError(t, <-produced)
		f.awaitCommitted(3 * time.Minute)
		require.NoError(t, p.stop(), "SIGTERM: a clean exit")
		f.checkCollection(h.want)
		f.awaitCommitted(time.Second)
		assert.Empty(t, f.readTopic(f.dlq))
		t.Logf("%d records over %d keys: %d documents exact after %d kills", total, keys, len(h.want), p.runs-1)
	})
}

// TestBinaryNeverLogsThePassword runs mongo-sink with credentials in the
// MongoDB URI (and a server that is not there) at debug level: the password
// appears nowhere in its output.
func TestBinaryNeverLogsThePassword(t *testing.T) {
	testkit.Slow(t, "running the binary")
	f := newFixture(t, testkit.Kfake(t), 1, startMongo(t).URI())
	const secret = "s3cr3t-Pa55"
	f.mongoURI = "mongodb://sinkuser:" + secret + "@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300&tlsCertificateKeyFilePassword=" + secret + "2"
	args := f.sinkArgs()
	args[len(args)-1] = "debug" // --log.level
	p := newProcess(t, args...)
	p.start()
	testkit.Await(t, time.Minute, "the sink to report MongoDB unreachable", func() (bool, string) {
		return strings.Contains(p.out.String(), "MongoDB does not answer yet"), p.out.Tail(3)
	})
	require.NoError(t, p.stop())
	out := p.out.String()
	assert.NotContains(t, out, secret)
	assert.Contains(t, out, "sinkuser:xxxxx@127.0.0.1:1")
}

// TestBinaryRefusesFerretDBWithoutCompat: the sink's defaults are a real
// MongoDB's (Decimal128, which FerretDB cannot store); pointed at FerretDB
// without --mongodb.compat=ferretdb it exits 1 naming the setting, instead
// of failing every write.
func TestBinaryRefusesFerretDBWithoutCompat(t *testing.T) {
	testkit.Slow(t, "running the binary")
	f := newFixture(t, testkit.Kfake(t), 1, startMongo(t).URI())
	var args []string
	for _, a := range f.sinkArgs() {
		if a != "--mongodb.compat" && a != "ferretdb" {
			args = append(args, a)
		}
	}
	p := newProcess(t, args...)
	p.start()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("mongo-sink still running against FerretDB without --mongodb.compat:\n%s", p.out.Tail(20))
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, p.out.Tail(20))
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, p.out.String(), "is FerretDB")
	assert.Contains(t, p.out.String(), "run with --mongodb.compat=ferretdb")
}
