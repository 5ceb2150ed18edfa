package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/internal/testkit"
)

// The built binary: PIPELINE_BIN when set (to run these tests against
// another build), else built once from this package.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	testkit.Slow(t, "building the pipeline binary")
	buildOnce.Do(func() {
		if p := os.Getenv("PIPELINE_BIN"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "pipeline-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pipeline")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	require.NoError(t, buildErr, binPath)
	return binPath
}

func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return o.String(), e.String(), 0
}

// TestAMistypedFlagIsOneLine: the error once, naming --help, without the
// whole usage around it.
func TestAMistypedFlagIsOneLine(t *testing.T) {
	stdout, stderr, code := runBinary(t, nil, "--rat", "5")
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout)
	assert.Equal(t, 1, strings.Count(stderr, "flag provided but not defined: -rat"), stderr)
	assert.NotContains(t, stderr, "Usage:")
	assert.Contains(t, stderr, "pipeline --help lists the flags")
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)

	_, stderr, code = runBinary(t, nil, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stderr, "Usage: pipeline [flags]")
	assert.Contains(t, stderr, `--log.level string [LOG_LEVEL]`)
	assert.Contains(t, stderr, `(default "warn")`)
}

// TestLogLevelComesFromTheEnvironment: LOG_LEVEL is honoured like every
// other flag's variable (the pipeline's own default, warn, is not a flag
// given on the command line).
func TestLogLevelComesFromTheEnvironment(t *testing.T) {
	_, stderr, code := runBinary(t, []string{"LOG_LEVEL=nonsense"}, "--data.dir", t.TempDir(), "--mysql.dsn", "u:p@tcp(127.0.0.1:1)/shop")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `log.level "nonsense"`, "the environment's level was used")
}

// TestInterruptsStopAndThenQuit: the first signal stops the run, the
// second quits at once.
func TestInterruptsStopAndThenQuit(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	cancelled := make(chan struct{})
	exited := make(chan int, 1)
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		interrupts(sigs, func() { close(cancelled) }, &out, func(code int) { exited <- code })
	}()
	sigs <- os.Interrupt
	<-cancelled
	sigs <- os.Interrupt
	assert.Equal(t, 130, <-exited)
	<-done
	assert.Contains(t, out.String(), "stopping (Ctrl-C again to quit at once)")
	assert.Contains(t, out.String(), "quit without waiting")
}

// TestSIGINTDuringStartUpStopsCleanly sends SIGINT to the binary at moments
// of its start-up (each the first line that says a step is reached) and
// once orders flow: each time it must stop cleanly (exit 0, the stop line, the
// sink's last write not failing against an already stopped MongoDB).
func TestSIGINTDuringStartUpStopsCleanly(t *testing.T) {
	dsn := testkit.MySQL(t)
	bin := binary(t)
	moments := []string{
		"schema registry loaded", // Kafka and the registry are up
		"pipeline running",       // every component is starting
		"created topic",
		"snapshot started",
		"processor running",
		"catalog loaded",
		`^\d\d:\d\d:\d\d  `, // the first progress line: orders flow
	}
	for _, moment := range moments {
		at := regexp.MustCompile(moment)
		t.Run(strings.ReplaceAll(moment, " ", "_"), func(t *testing.T) {
			cmd := exec.Command(bin, "--data.dir", t.TempDir(), "--mysql.dsn", cdcDSN(t, dsn), "--log.level", "info",
				"--kafka.addr", "127.0.0.1:0", "--schema.registry.addr", "127.0.0.1:0", "--mongodb.addr", "127.0.0.1:0",
				"--monitor.addr", "127.0.0.1:0", "--progress", "500ms")
			pr, pw := io.Pipe()
			cmd.Stdout, cmd.Stderr = pw, pw
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait(); pw.Close() }()

			// The output, line by line, read on a goroutine of its own so
			// that a moment that never comes fails the test instead of
			// blocking it.
			lines := make(chan string, 1024)
			copied := make(chan struct{})
			go func() {
				defer close(copied)
				defer close(lines)
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			var out strings.Builder
			deadline := time.After(3 * time.Minute) // a backstop, not a measurement
			for reached := false; !reached; {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("the binary exited before it said %q:\n%s", moment, out.String())
					}
					out.WriteString(line + "\n")
					reached = at.MatchString(line)
				case <-deadline:
					_ = cmd.Process.Kill()
					t.Fatalf("the binary never said %q:\n%s", moment, out.String())
				}
			}
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			signalled := time.Now()
			var after strings.Builder
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				for line := range lines {
					after.WriteString(line + "\n")
				}
			}()
			var err error
			select {
			case err = <-exited:
			case <-time.After(time.Minute): // a backstop, not a measurement
				_ = cmd.Process.Kill()
				<-exited
				<-drained
				t.Fatalf("still running a minute after SIGINT at %q:\n%s%s", moment, out.String(), after.String())
			}
			took := time.Since(signalled)
			<-copied
			<-drained
			all := out.String() + after.String()
			require.NoError(t, err, "exit status after SIGINT at %q:\n%s", moment, all)
			assert.Contains(t, after.String(), "stopping (Ctrl-C again to quit at once)")
			assert.Regexp(t, `stopped (after|during start-up)`, after.String())
			assert.NotContains(t, after.String(), "writing to MongoDB failed", "MongoDB stopped before the sink was done")
			t.Logf("SIGINT at %q: exited cleanly %v later", moment, took.Round(time.Millisecond))
		})
	}
}

// cdcDSN is the DSN of the user the pipeline runs as (scripts/mariadb.sh's
// orderstream), on the server of the root DSN.
func cdcDSN(t *testing.T, root string) string {
	t.Helper()
	at := strings.Index(root, "@")
	require.Positive(t, at, root)
	dsn := "orderstream:orderstream" + root[at:]
	if q := strings.Index(dsn, "?"); q >= 0 {
		dsn = dsn[:q]
	}
	return dsn
}
