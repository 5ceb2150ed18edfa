package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterNodes is the number of nodes of the cluster KafkaCluster runs; their
// node ids (broker ids) are 1..ClusterNodes.
const ClusterNodes = 3

// How often the Cluster's waits look again.
const clusterPoll = 100 * time.Millisecond

// Cluster is the three-node Apache Kafka KRaft cluster of
// `scripts/kafka.sh cluster` (replication factor 3, min.insync.replicas=2,
// no unclean leader election), for tests that kill brokers.
//
// A test holds the cluster alone: KafkaCluster takes a lock (a file lock, so
// across test packages too) that is released when the test ends, after every
// node the test killed has been started again. The methods fail the test on
// error; call them from the test's goroutine.
type Cluster struct {
	t       testing.TB
	root    string // module root, where scripts/kafka.sh is
	brokers []string
	cl      *kgo.Client
	adm     *kadm.Client
	nodes   []*kgo.Client // one per node, each asking only that node

	mu     sync.Mutex
	killed map[int]bool
}

// KafkaCluster ensures the three-node Kafka cluster runs (it runs
// `scripts/kafka.sh cluster start`, which starts what is not running and waits
// until all three brokers are alive; 15-20 s on 2 busy cores), waits until
// every partition on it has its full ISR, and returns a handle. Under -short
// the test is skipped; without java it is skipped, or fails under CI=true.
func KafkaCluster(t testing.TB) *Cluster {
	t.Helper()
	const setup = "go test without -short; the test runs scripts/kafka.sh cluster start, which needs java 17+ " +
		"and maven (apt-get install openjdk-17-jre-headless maven)"
	if testing.Short() {
		t.Skip("needs the 3-node Kafka cluster (started on demand by scripts/kafka.sh cluster start); skipped with -short")
	}
	root, err := moduleRoot()
	if err != nil {
		need(t, "scripts/kafka.sh", setup+": "+err.Error())
	}
	if _, err := exec.LookPath("java"); err != nil {
		need(t, "java (for the 3-node Kafka cluster)", setup)
	}
	c := &Cluster{t: t, root: root, killed: map[int]bool{}}

	release := c.lock()
	t.Cleanup(release) // runs last: after the restarts below

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	if out, err := c.script(ctx, "cluster", "start"); err != nil {
		t.Fatalf("scripts/kafka.sh cluster start: %v\n%s", err, out)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Logf("3-node Kafka cluster started in %v", d.Round(100*time.Millisecond))
	}
	out, err := c.script(ctx, "cluster", "env")
	if err != nil {
		t.Fatalf("scripts/kafka.sh cluster env: %v\n%s", err, out)
	}
	servers, ok := strings.CutPrefix(strings.TrimSpace(out), "KAFKA_CLUSTER_BOOTSTRAP_SERVERS=")
	if !ok || servers == "" {
		t.Fatalf("scripts/kafka.sh cluster env printed %q, want KAFKA_CLUSTER_BOOTSTRAP_SERVERS=...", out)
	}
	c.brokers = strings.Split(servers, ",")
	if len(c.brokers) != ClusterNodes {
		t.Fatalf("scripts/kafka.sh cluster env: %d brokers (%s), want %d", len(c.brokers), servers, ClusterNodes)
	}
	c.cl, err = kgo.NewClient(kgo.SeedBrokers(c.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	c.adm = kadm.NewClient(c.cl)
	t.Cleanup(c.cl.Close)
	for _, addr := range c.brokers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		c.nodes = append(c.nodes, cl)
	}
	t.Cleanup(c.restoreKilled)

	// A test before this one may have ended with a node just restarted.
	c.AwaitFullISR(ctx)
	return c
}

// Brokers are the bootstrap servers of the three nodes, node 1 first.
func (c *Cluster) Brokers() []string { return slices.Clone(c.brokers) }

// Admin is an admin client on the cluster (closed when the test ends).
func (c *Cluster) Admin() *kadm.Client { return c.adm }

// CreateTopic creates topic with the given partitions, replication factor 3
// and configs, and waits until every partition has a leader and its full ISR
// as seen by every broker, so that clients can use it at once. The topic is
// deleted when the test ends (so that restarts do not get slower run by run).
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions int32, configs map[string]*string) {
	c.t.Helper()
	resp, err := c.adm.CreateTopic(ctx, partitions, ClusterNodes, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.t.Fatalf("create topic %s: %v", topic, err)
	}
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.adm.DeleteTopic(ctx, topic); err != nil {
			c.t.Logf("delete topic %s: %v", topic, err)
		}
	})
	c.AwaitFullISR(ctx, topic)
}

// Kill SIGKILLs node (1..3): a crash, no controlled shutdown. It returns when
// the process is gone; the cluster notices later (the controller fences the
// broker after broker.session.timeout.ms, 9 s by default, and only then elects
// new leaders for its partitions). A node killed and not restarted by the test
// is started again when the test ends.
func (c *Cluster) Kill(node int) {
	c.t.Helper()
	c.checkNode(node)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.mu.Lock()
	c.killed[node] = true
	c.mu.Unlock()
	if out, err := c.script(ctx, "cluster", "kill", strconv.Itoa(node)); err != nil {
		c.t.Fatalf("scripts/kafka.sh cluster kill %d: %v\n%s", node, err, out)
	}
}

// Restart starts node again (scripts/kafka.sh cluster start-node: until it
// answers and is registered and unfenced) and then waits until it is back in
// the ISR of every partition it hosts, as every broker sees it.
func (c *Cluster) Restart(ctx context.Context, node int) {
	c.t.Helper()
	c.checkNode(node)
	if err := c.restart(ctx, node); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) restart(ctx context.Context, node int) error {
	t0 := time.Now()
	if out, err := c.script(ctx, "cluster", "start-node", strconv.Itoa(node)); err != nil {
		return fmt.Errorf("scripts/kafka.sh cluster start-node %d: %v\n%s", node, err, out)
	}
	started := time.Now()
	c.mu.Lock()
	delete(c.killed, node)
	c.mu.Unlock()
	err := c.await(ctx, nil, func(p partitionView) string {
		if slices.Contains(p.replicas, int32(node)) && !slices.Contains(p.isr, int32(node)) {
			return fmt.Sprintf("node %d not in the ISR", node)
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("node %d restarted but not back in sync: %w", node, err)
	}
	c.t.Logf("node %d restarted: answering and registered after %v, in every ISR after %v", node,
		started.Sub(t0).Round(10*time.Millisecond), time.Since(t0).Round(10*time.Millisecond))
	return nil
}

// Leader is the node that leads topic's partition, waiting while the
// partition has none (during an election). Right after a Kill it can still
// be the killed node: the metadata says so until the controller fences it.
func (c *Cluster) Leader(ctx context.Context, topic string, partition int32) int32 {
	c.t.Helper()
	for {
		md, err := c.adm.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil {
				if pd, ok := td.Partitions[partition]; ok && pd.Err == nil && pd.Leader >= 0 {
					return pd.Leader
				}
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("no leader for %s/%d: %v (last error: %v)", topic, partition, ctx.Err(), err)
		case <-time.After(clusterPoll):
		}
	}
}

// AwaitFullISR waits until every partition of topics (no topics: of every
// topic, the internal ones included) has a leader and all its replicas in
// the ISR, as seen by every broker.
func (c *Cluster) AwaitFullISR(ctx context.Context, topics ...string) {
	c.t.Helper()
	err := c.await(ctx, topics, func(p partitionView) string {
		if len(p.isr) < len(p.replicas) {
			return fmt.Sprintf("ISR %v of replicas %v", p.isr, p.replicas)
		}
		return ""
	})
	if err != nil {
		c.t.Fatalf("waiting for the full ISR of %s: %v", describeTopics(topics), err)
	}
}

// partitionView is one partition as one broker's metadata describes it.
type partitionView struct {
	topic     string
	partition int32
	leader    int32
	replicas  []int32
	isr       []int32
}

// await polls the metadata of topics (nil: all) from every broker until every
// partition has a leader and bad reports nothing wrong with it, in every
// broker's view (each broker answers from its own metadata cache, so a single
// answer can lag behind the controller).
func (c *Cluster) await(ctx context.Context, topics []string, bad func(partitionView) string) error {
	var last string
	for {
		problem, err := c.checkViews(ctx, topics, bad)
		if err != nil {
			problem = err.Error()
		}
		if problem == "" {
			return nil
		}
		last = problem
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last seen: %s", ctx.Err(), last)
		case <-time.After(clusterPoll):
		}
	}
}

func (c *Cluster) checkViews(ctx context.Context, topics []string, bad func(partitionView) string) (string, error) {
	for i, cl := range c.nodes {
		views, err := metadataOf(ctx, cl, topics)
		if err != nil {
			return "", fmt.Errorf("metadata from node %d (%s): %w", i+1, c.brokers[i], err)
		}
		for _, p := range views {
			what := ""
			if p.leader < 0 {
				what = "no leader"
			} else {
				what = bad(p)
			}
			if what != "" {
				return fmt.Sprintf("node %d says %s/%d: %s", i+1, p.topic, p.partition, what), nil
			}
		}
	}
	return "", nil
}

// metadataOf asks the seed broker of cl (and only it) for the metadata of
// topics (nil: all topics).
func metadataOf(ctx context.Context, cl *kgo.Client, topics []string) ([]partitionView, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	if topics != nil {
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(rctx, cl.SeedBrokers()[0])
	if err != nil {
		return nil, err
	}
	var out []partitionView
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, fmt.Errorf("topic %s: %w", name, err)
		}
		if topics != nil && len(t.Partitions) == 0 {
			return nil, fmt.Errorf("topic %s: no partitions", name)
		}
		for _, p := range t.Partitions {
			leader := p.Leader
			if kerr.ErrorForCode(p.ErrorCode) != nil {
				leader = -1
			}
			out = append(out, partitionView{topic: name, partition: p.Partition, leader: leader,
				replicas: p.Replicas, isr: p.ISR})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out, nil
}

// restoreKilled starts the nodes the test killed and did not restart, so the
// next test finds the cluster whole.
func (c *Cluster) restoreKilled() {
	c.mu.Lock()
	var nodes []int
	for n := range c.killed {
		nodes = append(nodes, n)
	}
	c.mu.Unlock()
	sort.Ints(nodes)
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		err := c.restart(ctx, n)
		cancel()
		if err != nil {
			c.t.Errorf("restarting node %d the test killed: %v", n, err)
		}
	}
}

// lock takes the cluster for this test: an exclusive flock on a file in the
// cluster's data dir, waited for while another test (in this process or
// another package's) holds it. It returns the release.
func (c *Cluster) lock() (release func()) {
	c.t.Helper()
	dir := os.Getenv("KAFKA_CLUSTER_DATA_DIR")
	if dir == "" {
		dir = filepath.Join(".data", "kafka-cluster")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(c.root, dir) // as the script, which runs in the module root
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	path := filepath.Join(dir, "tests.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Minute)
	if d, ok := c.t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok && dl.Add(-time.Minute).Before(deadline) {
			deadline = dl.Add(-time.Minute)
		}
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			c.t.Fatalf("lock %s: %v", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			c.t.Fatalf("another test has held the 3-node Kafka cluster (%s) too long", path)
		}
		if !logged {
			c.t.Logf("waiting for another test to finish with the 3-node Kafka cluster (%s)", path)
			logged = true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return func() { f.Close() } // closing the file releases the lock
}

// script runs scripts/kafka.sh with args in the module root and returns its
// output (stdout and stderr).
func (c *Cluster) script(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.root, "scripts", "kafka.sh"), args...)
	cmd.Dir = c.root
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (c *Cluster) checkNode(node int) {
	c.t.Helper()
	if node < 1 || node > ClusterNodes {
		c.t.Fatalf("no node %d: the nodes are 1..%d", node, ClusterNodes)
	}
}

func describeTopics(topics []string) string {
	if len(topics) == 0 {
		return "every topic"
	}
	return strings.Join(topics, ", ")
}

// moduleRoot is the nearest directory at or above the working directory (a
// test's package directory) with a go.mod and scripts/kafka.sh.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "scripts", "kafka.sh")); err != nil {
				return "", fmt.Errorf("no scripts/kafka.sh in the module root %s", dir)
			}
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
