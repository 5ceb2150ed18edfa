// Package testkit has what tests share: a schema registry, and the real
// infrastructure (Kafka, MariaDB, a headless Chromium) when the environment
// provides it.
package testkit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-sql-driver/mysql"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/config"
)

// Registry returns a registry client on a fresh in-memory schema registry.
func Registry(t testing.TB) *codecs.Registry {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	require.NoError(t, err)
	return codecs.NewRegistry(cl)
}

// Slow skips t under -short (make test-unit): for a test that takes more
// than a few seconds or needs real infrastructure.
func Slow(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: %s takes more than a few seconds", what)
	}
}

// need reports a missing piece of infrastructure: under CI (CI=true) the
// test fails, elsewhere it is skipped with the command that provides it.
// Under -short every test that needs infrastructure is skipped.
func need(t testing.TB, what, setup string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not available and CI=true: %s", what, setup)
	}
	t.Skipf("%s is not available; to run this test: %s", what, setup)
}

// RealKafka returns the bootstrap servers of a real Kafka broker, from
// KAFKA_BOOTSTRAP_SERVERS (scripts/kafka.sh start; eval "$(scripts/kafka.sh env)").
func RealKafka(t testing.TB) []string {
	t.Helper()
	Slow(t, "a test on a real Kafka broker")
	servers := os.Getenv("KAFKA_BOOTSTRAP_SERVERS")
	if servers == "" {
		need(t, "a real Kafka broker", `scripts/kafka.sh start && export "$(scripts/kafka.sh env)"`)
	}
	brokers := strings.Split(servers, ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		need(t, "the Kafka broker at "+servers, "scripts/kafka.sh start ("+err.Error()+")")
	}
	return brokers
}

// Kfake starts an in-process Kafka cluster (franz-go's kfake) for the test.
func Kfake(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Clusters are the Kafka clusters integration tests run against: kfake
// always, and a real broker when KAFKA_BOOTSTRAP_SERVERS names one (under CI
// it must).
func Clusters(t *testing.T, test func(t *testing.T, brokers []string)) {
	t.Run("kfake", func(t *testing.T) { test(t, Kfake(t)) })
	t.Run("kafka", func(t *testing.T) { test(t, RealKafka(t)) })
}

// MySQL returns a root DSN of the private MariaDB (scripts/mariadb.sh), from
// MYSQL_ROOT_DSN, after checking it answers.
func MySQL(t testing.TB) string {
	t.Helper()
	Slow(t, "a test on MariaDB")
	dsn := os.Getenv("MYSQL_ROOT_DSN")
	if dsn == "" {
		need(t, "MariaDB", `scripts/mariadb.sh start && eval "$(scripts/mariadb.sh env)"`)
	}
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer db.Close()
	if err := db.Ping(); err != nil {
		need(t, "MariaDB at "+dsn, "scripts/mariadb.sh start ("+err.Error()+")")
	}
	return dsn
}

// ShopCopy creates database name on the MariaDB of rootDSN as a private
// copy of the shop database (database/ddl.sql and dml.sql, shop renamed),
// dropped when the test ends, and returns a root connection to it
// (parseTime, UTC) and its DSN.
func ShopCopy(t testing.TB, rootDSN, name string) (*sql.DB, string) {
	t.Helper()
	root, err := moduleRoot()
	require.NoError(t, err)
	admin, err := sql.Open("mysql", rootDSN+"&multiStatements=true")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name)
		admin.Close()
	})
	for _, file := range []string{"ddl.sql", "dml.sql"} {
		b, err := os.ReadFile(filepath.Join(root, "database", file))
		require.NoError(t, err)
		_, err = admin.Exec(strings.ReplaceAll(string(b), "shop", name))
		require.NoError(t, err, file)
	}
	cfg, err := mysql.ParseDSN(rootDSN)
	require.NoError(t, err)
	cfg.DBName, cfg.ParseTime, cfg.Loc = name, true, time.UTC
	dsn := cfg.FormatDSN()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// RegistryURL serves a fresh in-memory schema registry on a real port and
// returns its URL (for child processes) and a client.
func RegistryURL(t testing.TB) (string, *codecs.Registry) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	require.NoError(t, err)
	return fake.URL(), codecs.NewRegistry(cl)
}

// Await polls cond until it holds, or fails the test after timeout with
// what cond last said. The timeout only bounds a broken run (minutes), it
// is not a timed assertion.
func Await(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, timeout, state)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// Unique returns a name unique to this test run, for topics and groups on a
// shared broker.
func Unique(name string) string {
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9)
}

// KafkaConfig is the client configuration the services get from their flag
// defaults, pointed at brokers.
func KafkaConfig(brokers []string) config.Kafka {
	return config.Kafka{
		BootstrapServers: strings.Join(brokers, ","), SecurityProtocol: "PLAINTEXT", SASLMechanism: "PLAIN",
		ClientID: "test", CompressionType: "lz4", Linger: 5 * time.Millisecond, SessionTimeout: 10 * time.Second,
		ReplicationFactor: 1, Partitions: 6, CreateTopics: true,
	}
}

// Chromium returns the path of a Chromium to drive headless (Debian's
// chromium package; CHROMIUM names another binary).
func Chromium(t testing.TB) string {
	t.Helper()
	Slow(t, "a test in a browser")
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	need(t, "Chromium", "apt-get install -y chromium (as root; .ci/run installs it)")
	return ""
}

// Browser starts a headless Chromium for the test, in a fresh profile,
// with everything that would reach the network on its own turned off, and
// returns the context of its first tab. It ends with ctx or the test.
func Browser(t testing.TB, ctx context.Context, width, height int) context.Context {
	t.Helper()
	chrome := Chromium(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("mute-audio", true))
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate("about:blank")), "starting %s", chrome)
	return tab
}
