package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/murmur2"
)

// kfakeChildEnv makes TestKfakeServer serve a kfake cluster (see
// startKfakeProcess).
const kfakeChildEnv = "STORE_TEST_KFAKE_SERVER"

// TestKfakeServer is not a test: started by startKfakeProcess as a child
// process, it serves a kfake cluster, prints its address and runs until its
// stdin closes (so it never outlives the parent).
func TestKfakeServer(t *testing.T) {
	if os.Getenv(kfakeChildEnv) == "" {
		t.Skip("the kfake child process of the benchmarks")
	}
	signal.Ignore(syscall.SIGINT)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(6))
	require.NoError(t, err)
	defer c.Close()
	fmt.Printf("KFAKE %s\n", strings.Join(c.ListenAddrs(), ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startKfakeProcess runs kfake in a child process (this test binary), so
// that the broker's memory and CPU are not counted as the reader's.
func startKfakeProcess(tb testing.TB) []string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKfakeServer$", "-test.v")
	cmd.Env = append(os.Environ(), kfakeChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	cmd.Stderr = os.Stderr
	require.NoError(tb, cmd.Start())
	kfakePID = cmd.Process.Pid
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addrs, ok := strings.CutPrefix(sc.Text(), "KFAKE "); ok {
			go io.Copy(io.Discard, stdout)
			return strings.Split(addrs, ",")
		}
	}
	tb.Fatalf("kfake child process gave no address: %v", sc.Err())
	return nil
}

// kfakePID is the process startKfakeProcess started last.
var kfakePID int

// processCPU is the user + system CPU time process pid has used (0 when it
// is not known).
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): state is
	// field 3, utime 14, stime 15, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// startKfake runs kfake in this process.
func startKfake(tb testing.TB) []string {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(6))
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	return c.ListenAddrs()
}

// saramaConfig is what the services' configuration gives a consumer (our
// config.Kafka.Sarama: Goka's defaults, protocol 3.6, murmur2).
func saramaConfig() *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Producer.Partitioner = murmur2.NewPartitioner
	// Experiments: STORE_BENCH_FETCH_DEFAULT (bytes per partition per
	// fetch, sarama's default 1 MiB) and STORE_BENCH_CHANNEL_BUFFER
	// (messages buffered per partition, default 256).
	if n, err := strconv.Atoi(os.Getenv("STORE_BENCH_FETCH_DEFAULT")); err == nil {
		cfg.Consumer.Fetch.Default = int32(n)
	}
	if n, err := strconv.Atoi(os.Getenv("STORE_BENCH_CHANNEL_BUFFER")); err == nil {
		cfg.ChannelBufferSize = n
	}
	return cfg
}

// newView is a view of topic with builder, configured as our services'
// Lookup tables are; values are the raw bytes.
func newView(tb testing.TB, brokers []string, topic string, builder storage.Builder, opts ...goka.ViewOption) *goka.View {
	tb.Helper()
	cfg := saramaConfig()
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication, tmc.Stream.Replication = 1, 1
	opts = append([]goka.ViewOption{
		goka.WithViewHasher(murmur2.Hasher),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(cfg)),
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(cfg, tmc)),
		goka.WithViewStorageBuilder(builder),
	}, opts...)
	v, err := goka.NewView(brokers, goka.Table(topic), new(codec.Bytes), opts...)
	require.NoError(tb, err)
	return v
}

// runView runs v until the test ends and returns when it has recovered.
func runView(tb testing.TB, v *goka.View) (stop func()) {
	tb.Helper()
	wait, stop := startView(tb, v)
	wait()
	return stop
}

// startView runs v until the test ends; wait returns when it has recovered.
func startView(tb testing.TB, v *goka.View) (wait, stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(tb, <-done)
		}
	}
	tb.Cleanup(stop)
	wait = func() {
		tb.Helper()
		select {
		case <-v.WaitRunning():
		case err := <-done:
			stopped = true
			tb.Fatalf("view of %s stopped before it was running: %v", v.Topic(), err)
		case <-time.After(10 * time.Minute):
			tb.Fatalf("view of %s not running after 10 minutes", v.Topic())
		}
	}
	return wait, stop
}

// createTopic creates a compacted topic with partitions.
func createTopic(tb testing.TB, brokers []string, topic string, partitions int32) {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(tb, err)
	defer cl.Close()
	cleanup := "compact"
	_, err = kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1,
		map[string]*string{"cleanup.policy": &cleanup}, topic)
	require.NoError(tb, err)
}

// produce writes records (Value nil = tombstone) to topic, partitioned with
// murmur2 as the Java client and our services do, lz4-compressed.
func produce(tb testing.TB, brokers []string, topic string, partitions int32, recs []*kgo.Record) {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	require.NoError(tb, err)
	defer cl.Close()
	ctx := context.Background()
	errs := make(chan error, 1)
	for _, r := range recs {
		r.Topic = topic
		r.Partition = murmur2.Partition(r.Key, partitions)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	require.NoError(tb, cl.Flush(ctx))
	select {
	case err := <-errs:
		tb.Fatalf("producing to %s: %v", topic, err)
	default:
	}
}

// gen makes Customer and Product values in Confluent wire format, as the
// CDC source writes them.
type gen struct {
	customerCodec *codecs.Avro[avro.Customer]
	productCodec  *codecs.Avro[avro.Product]
	r             *rand.Rand
}

func newGen(tb testing.TB) *gen {
	tb.Helper()
	fake := srfake.New()
	tb.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	require.NoError(tb, err)
	reg := codecs.NewRegistry(cl)
	ctx := context.Background()
	c, err := codecs.NewAvro[avro.Customer](ctx, reg, "customers-value", avro.CustomerSchema)
	require.NoError(tb, err)
	p, err := codecs.NewAvro[avro.Product](ctx, reg, "products-value", avro.ProductSchema)
	require.NoError(tb, err)
	return &gen{customerCodec: c, productCodec: p, r: rand.New(rand.NewPCG(1, 2))}
}

var (
	firstNames = []string{"Emma", "Liam", "Olivia", "Noah", "Ava", "Sophia", "Mateo", "Łukasz", "Zoë", "Jürgen", "Aiko", "Chiara", "Oluwaseun", "François", "Nguyễn", "Isabella", "Mohammed", "Anastasia"}
	lastNames  = []string{"Johnson", "Smith", "Williams", "Brown", "Müller", "Dvořák", "Nakamura", "García", "Rossi", "Kowalski", "O'Brien", "Van der Berg", "Schmidt-Hoffmann", "Papadopoulos", "Okonkwo"}
	domains    = []string{"example.org", "example.net", "example.com", "mail.example", "shop.test"}
	cities     = []string{"Seattle", "Austin", "Denver", "Chicago", "São Paulo", "München", "Kraków", "Osaka", "Lagos", "Milano", "Rotterdam", "Thessaloniki", "Ho Chi Minh City"}
	countries  = []string{"US", "BR", "DE", "PL", "JP", "NG", "IT", "NL", "GR", "VN"}
	categories = []string{"Books", "Kitchen", "Garden", "Electronics", "Toys", "Outdoor", "Office"}
	words      = []string{"classic", "durable", "compact", "stainless", "steel", "wireless", "ergonomic", "organic", "handmade", "cotton", "portable", "premium", "edition", "set", "of", "two", "for", "everyday", "use"}
)

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *gen) words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = g.pick(words)
	}
	return strings.Join(w, " ")
}

func opt(s string) *string { return &s }

// customer returns the key and value of customer id.
func (g *gen) customer(tb testing.TB, id int64) ([]byte, []byte) {
	first, last := g.pick(firstNames), g.pick(lastNames)
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.r.Int64N(int64(500 * 24 * time.Hour)))).Truncate(time.Millisecond)
	c := &avro.Customer{ID: id, FirstName: first, LastName: last,
		Email:     fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(strings.ReplaceAll(last, " ", "")), id, g.pick(domains)),
		CreatedAt: created, UpdatedAt: created.Add(time.Duration(g.r.Int64N(int64(100 * 24 * time.Hour)))).Truncate(time.Millisecond)}
	if g.r.IntN(10) > 0 {
		c.Phone = opt(fmt.Sprintf("+1-202-555-%04d", g.r.IntN(10000)))
	}
	if g.r.IntN(10) > 2 {
		c.CreditCard = opt("****")
	}
	if g.r.IntN(20) > 0 {
		c.City, c.Country = opt(g.pick(cities)), opt(g.pick(countries))
	}
	v, err := g.customerCodec.Encode(c)
	require.NoError(tb, err)
	return []byte(codecs.Key(id)), v
}

// product returns the key and value of product id.
func (g *gen) product(tb testing.TB, id int64) ([]byte, []byte) {
	created := time.Date(2023, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.r.Int64N(int64(500 * 24 * time.Hour)))).Truncate(time.Millisecond)
	p := &avro.Product{ID: id, Name: g.words(2+g.r.IntN(5)) + fmt.Sprintf(" %d", id), Category: g.pick(categories),
		Price:       big.NewRat(int64(10+g.r.IntN(200_000)), 100),
		Description: opt(g.words(4 + g.r.IntN(12))), CreatedAt: created, UpdatedAt: created}
	v, err := g.productCodec.Encode(p)
	require.NoError(tb, err)
	return []byte(codecs.Key(id)), v
}
