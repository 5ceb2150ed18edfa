package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/kit/store"
)

// BenchmarkTableLoad measures what orders-details does at start: load the
// customers and products Lookup tables (goka views, 6 partitions, Avro
// values in Confluent wire format, lz4 batches) from Kafka until both are
// ready, for 10k, 100k and 1M customers with 100k products, with each
// storage:
//
//	goka-memory      Goka's storage.MemoryBuilder (quadratic: up to 100k only)
//	map              a baseline: a map[string][]byte of copied values (no iterators)
//	store-memory     store.MemoryBuilder, what Builder("") gives
//	leveldb          Goka's storage.DefaultBuilder, what Builder(dir) gives, first start
//	leveldb-restart  the same directory again: resumes at the stored offsets
//
// Figures: ready-s (from the views' start to both running), cpu-s (user +
// system CPU of this process meanwhile), broker-cpu-s (the broker's: the
// kfake child's, or STORE_BENCH_BROKER_PID's), heap-MB (live heap after a GC,
// above the level before), peak-RSS-MB (resident-set high-water mark above
// the level before), RSS-MB (resident set once loaded, after a GC that
// returns free memory to the OS, above the level before), B/row (heap the storages hold per row, measured with
// the views stopped and the storages still open), enc-B/row (key + value as
// on the topic), ratio (B/row / enc-B/row), store-B/row (for store.Memory,
// its arenas and index by its own count).
//
// Kafka: kfake in a child process (its memory and CPU are not counted), and
// a real broker when KAFKA_BOOTSTRAP_SERVERS names one. STORE_BENCH_ROWS
// overrides the customer counts (comma separated); STORE_BENCH_CPUPROFILE
// writes a CPU profile of each load to <value>-<sub-benchmark>.prof.
//
//	go test -run '^$' -bench TableLoad -benchtime 1x -timeout 30m ./kit/store/
func BenchmarkTableLoad(b *testing.B) {
	rowCounts := []int{10_000, 100_000, 1_000_000}
	if s := os.Getenv("STORE_BENCH_ROWS"); s != "" {
		rowCounts = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			require.NoError(b, err)
			rowCounts = append(rowCounts, n)
		}
	}
	type cluster struct {
		name    string
		brokers func(testing.TB) (brokers []string, pid int)
	}
	clusters := []cluster{{"kfake", func(tb testing.TB) ([]string, int) { return startKfakeProcess(tb), kfakePID }}}
	if servers := os.Getenv("KAFKA_BOOTSTRAP_SERVERS"); servers != "" {
		pid, _ := strconv.Atoi(os.Getenv("STORE_BENCH_BROKER_PID"))
		clusters = append(clusters, cluster{"kafka", func(testing.TB) ([]string, int) { return strings.Split(servers, ","), pid }})
	}
	const partitions, products = 6, 100_000
	run := time.Now().UnixNano() % 1e9
	for _, cluster := range clusters {
		b.Run(cluster.name, func(b *testing.B) {
			brokers, pid := cluster.brokers(b)
			brokerPID = pid
			g := newGen(b)
			productTopic := fmt.Sprintf("products-%d", run)
			createTopic(b, brokers, productTopic, partitions)
			productBytes := produceRows(b, brokers, productTopic, partitions, products, g.product)
			for _, rows := range rowCounts {
				customerTopic := fmt.Sprintf("customers-%d-%d", rows, run)
				createTopic(b, brokers, customerTopic, partitions)
				customerBytes := produceRows(b, brokers, customerTopic, partitions, rows, g.customer)
				encoded := float64(customerBytes+productBytes) / float64(rows+products)
				b.Logf("%s: %d customers, %.1f B/row encoded (key + value); %d products, %.1f B/row",
					cluster.name, rows, float64(customerBytes)/float64(rows), products, float64(productBytes)/products)
				dir := b.TempDir()
				for _, variant := range []string{"goka-memory", "map", "store-memory", "leveldb", "leveldb-restart"} {
					if variant == "goka-memory" && rows > 100_000 {
						continue
					}
					b.Run(fmt.Sprintf("customers=%d/%s", rows, variant), func(b *testing.B) {
						var builder func(topic string) storage.Builder
						switch variant {
						case "goka-memory":
							builder = func(string) storage.Builder { return storage.MemoryBuilder() }
						case "map":
							builder = func(string) storage.Builder { return mapBuilder }
						case "store-memory":
							builder = func(string) storage.Builder { return store.MemoryBuilder() }
						case "leveldb", "leveldb-restart":
							builder = func(topic string) storage.Builder { return store.Builder(filepath.Join(dir, topic)) }
						}
						for range b.N {
							m := measureLoad(b, brokers, []string{customerTopic, productTopic}, builder)
							b.ReportMetric(m.ready.Seconds(), "ready-s")
							b.ReportMetric(m.cpu.Seconds(), "cpu-s")
							if brokerPID != 0 {
								b.ReportMetric(m.brokerCPU.Seconds(), "broker-cpu-s")
							}
							b.ReportMetric(float64(m.heap)/(1<<20), "heap-MB")
							b.ReportMetric(float64(m.peakRSS)/(1<<20), "peak-RSS-MB")
							b.ReportMetric(float64(m.rss)/(1<<20), "RSS-MB")
							b.ReportMetric(float64(m.table)/float64(rows+products), "B/row")
							b.ReportMetric(encoded, "enc-B/row")
							b.ReportMetric(float64(m.table)/float64(rows+products)/encoded, "ratio")
							if strings.HasPrefix(variant, "leveldb") {
								b.ReportMetric(float64(du(dir))/(1<<20), "disk-MB")
							}
							if st := m.stats; st.Rows > 0 {
								b.ReportMetric(float64(st.ArenaBytes+st.IndexBytes)/float64(st.Rows), "store-B/row")
							}
							b.ReportMetric(0, "ns/op")
						}
					})
				}
			}
		})
	}
}

// produceRows writes n rows made by row and returns their bytes (keys and
// values).
func produceRows(tb testing.TB, brokers []string, topic string, partitions int32, n int, row func(testing.TB, int64) ([]byte, []byte)) int64 {
	var total int64
	const batch = 100_000
	for from := 0; from < n; from += batch {
		recs := make([]*kgo.Record, 0, min(batch, n-from))
		for id := from; id < min(from+batch, n); id++ {
			k, v := row(tb, int64(id+1))
			total += int64(len(k) + len(v))
			recs = append(recs, &kgo.Record{Key: k, Value: v})
		}
		produce(tb, brokers, topic, partitions, recs)
	}
	return total
}

// brokerPID is the process of the broker the benchmark runs against, when
// known: the kfake child process, or STORE_BENCH_BROKER_PID for a real one.
var brokerPID int

type loadFigures struct {
	ready, cpu    time.Duration
	brokerCPU     time.Duration // the broker's, when its process is known
	heap, peakRSS int64         // the process's, while the views run
	rss           int64         // the process's once loaded, after a GC that returns memory to the OS
	table         int64         // the storages' heap alone
	stats         store.Stats
}

// measureLoad starts a view of each topic and waits until all are running.
func measureLoad(b *testing.B, brokers, topics []string, builder func(topic string) storage.Builder) loadFigures {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0, rss0 := int64(ms.HeapAlloc), procStatus("VmRSS")
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // restart VmHWM
	if p := os.Getenv("STORE_BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p + "-" + strings.NewReplacer("/", "_", "=", "").Replace(b.Name()) + ".prof")
		require.NoError(b, err)
		require.NoError(b, pprof.StartCPUProfile(f))
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var kept keeper
	defer kept.close()
	cpu0, broker0 := cpuTime(), processCPU(brokerPID)
	start := time.Now()

	views := make([]*goka.View, len(topics))
	waits := make([]func(), len(topics))
	stops := make([]func(), len(topics))
	for i, topic := range topics {
		views[i] = newView(b, brokers, topic, kept.wrap(builder(topic)))
		waits[i], stops[i] = startView(b, views[i])
	}
	for _, wait := range waits {
		wait()
	}
	f := loadFigures{ready: time.Since(start), cpu: cpuTime() - cpu0, brokerCPU: processCPU(brokerPID) - broker0}
	f.peakRSS = procStatus("VmHWM") - rss0
	debug.FreeOSMemory()
	runtime.ReadMemStats(&ms)
	f.heap = int64(ms.HeapAlloc) - heap0
	f.rss = procStatus("VmRSS") - rss0
	for _, v := range views {
		got, err := v.Get("1")
		require.NoError(b, err)
		require.NotNil(b, got, "row 1 of %s", v.Topic())
	}
	// Stopped views, storages still open: what remains is the tables.
	for _, stop := range stops {
		stop()
	}
	views = nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	f.table = int64(ms.HeapAlloc) - heap0
	f.stats = kept.memoryStats()
	return f
}

// keeper keeps the storages a builder made open after their view stopped,
// until close.
type keeper struct {
	mu  sync.Mutex
	sts []storage.Storage
}

type closeLater struct{ storage.Storage }

func (closeLater) Close() error { return nil }

func (k *keeper) wrap(builder storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := builder(topic, partition)
		if err != nil {
			return nil, err
		}
		k.mu.Lock()
		k.sts = append(k.sts, st)
		k.mu.Unlock()
		return closeLater{st}, nil
	}
}

func (k *keeper) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, st := range k.sts {
		st.Close()
	}
	k.sts = nil
}

// memoryStats sums the Stats of the Memory storages.
func (k *keeper) memoryStats() store.Stats {
	k.mu.Lock()
	defer k.mu.Unlock()
	var sum store.Stats
	for _, st := range k.sts {
		m, ok := st.(*store.Memory)
		if !ok {
			continue
		}
		s := m.Stats()
		sum.Rows += s.Rows
		sum.LiveBytes += s.LiveBytes
		sum.DeadBytes += s.DeadBytes
		sum.ArenaBytes += s.ArenaBytes
		sum.IndexBytes += s.IndexBytes
	}
	return sum
}

// mapBuilder is the obvious storage, for comparison: a map of copied values.
// It has no iterators (loading a view needs none).
func mapBuilder(string, int32) (storage.Storage, error) {
	return &mapStorage{rows: map[string][]byte{}, offset: -1}, nil
}

type mapStorage struct {
	mu     sync.RWMutex
	rows   map[string][]byte
	offset int64
}

func (m *mapStorage) Open() error  { return nil }
func (m *mapStorage) Close() error { return nil }
func (m *mapStorage) Has(key string) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.rows[key]
	return ok, nil
}
func (m *mapStorage) Get(key string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rows[key], nil
}
func (m *mapStorage) Set(key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[key] = append([]byte{}, value...)
	return nil
}
func (m *mapStorage) Delete(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.rows, key)
	return nil
}
func (m *mapStorage) GetOffset(def int64) (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.offset < 0 {
		return def, nil
	}
	return m.offset, nil
}
func (m *mapStorage) SetOffset(o int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offset = o
	return nil
}
func (m *mapStorage) MarkRecovered() error                { return nil }
func (m *mapStorage) Iterator() (storage.Iterator, error) { return new(storage.NullIter), nil }
func (m *mapStorage) IteratorWithRange(_, _ []byte) (storage.Iterator, error) {
	return new(storage.NullIter), nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// du is the size of the files under dir.
func du(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
