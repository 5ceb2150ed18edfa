package connectors_test

// Our cdc-source next to Debezium: run in this process on the same database
// and changes as the Debezium connectors of TestKafkaConnectWorker, writing
// topics of its own, so that the records of the two can be compared key by
// key (connectors/README.md, "Verification").

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/connectors/cdc"
	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/schemaregistry"
)

// goSource is our cdc-source on a database, with its own topics.
type goSource struct {
	topics map[string]string // table -> topic
	reg    *sr.Client

	mu      sync.Mutex
	schemas map[int]*tavro.Schema
	failed  error
}

// startGoSource runs cdc.Source on database (the Debezium connectors'
// copy of shop) with the CDC user, as the cdc-source binary would with its
// defaults, to topics named <topic>-go of the partition count the
// connectors' topics get (6, compacted), registering with the pipeline's
// schema registry. It stops at the end of the test.
func startGoSource(t *testing.T, brokers []string, database, addr, user, password string, debeziumTopics map[string]string) *goSource {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The pipeline's schema registry (BACKWARD, as Confluent's by default).
	journal := database + "-go-schemas"
	srv, err := schemaregistry.Start(context.Background(), "127.0.0.1:0", cl, journal, quiet)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = srv.Close()
		_, _ = adm.DeleteTopics(context.Background(), journal)
	})
	client, err := sr.NewClient(sr.URLs(srv.URL()))
	require.NoError(t, err)
	reg := codecs.NewRegistry(client)
	g := &goSource{topics: map[string]string{}, reg: client, schemas: map[int]*tavro.Schema{}}

	tables := slices.Clone(cdc.DefaultTables)
	for i := range tables {
		tables[i].Database = database
		tables[i].Topic = debeziumTopics[tables[i].Name] + "-go"
		g.topics[tables[i].Name] = tables[i].Topic
	}
	opts := cdc.Options{Name: database + "-go", Tables: tables, MaskReplacement: cdc.DefaultMaskReplacement,
		OffsetsTopic: database + "-go-offsets", DeadLetterTopic: database + "-go-dlq", OffsetFlushInterval: 100 * time.Millisecond,
		Logger: quiet}
	dsn := mysql.NewConfig()
	dsn.User, dsn.Passwd, dsn.Net, dsn.Addr, dsn.DBName = user, password, "tcp", addr, database
	opts.DSN = dsn.FormatDSN()
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	var all []string
	for _, tp := range []struct {
		name       string
		partitions int32
		cfg        map[string]*string
	}{{tables[0].Topic, 6, compact}, {tables[1].Topic, 6, compact}, {opts.OffsetsTopic, 1, compact}, {opts.DeadLetterTopic, 1, nil}} {
		_, err := adm.CreateTopic(context.Background(), tp.partitions, 1, tp.cfg, tp.name)
		require.NoError(t, err)
		all = append(all, tp.name)
	}
	require.NoError(t, topics.AwaitServed(context.Background(), cl, time.Minute, all...))
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), all...) })

	ctx, cancel := context.WithCancel(context.Background())
	src, err := cdc.New(ctx, opts, cl, reg)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		err := src.Run(ctx)
		g.mu.Lock()
		g.failed = err
		g.mu.Unlock()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done, "our cdc-source")
		src.Close()
	})
	return g
}

// err is why our source stopped before the end of the test, if it did.
func (g *goSource) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed
}

func (g *goSource) writer(value []byte) (*tavro.Schema, error) {
	if len(value) < 5 || value[0] != 0 {
		return nil, fmt.Errorf("not Confluent wire format: % x", value[:min(len(value), 8)])
	}
	id := int(binary.BigEndian.Uint32(value[1:5]))
	g.mu.Lock()
	s := g.schemas[id]
	g.mu.Unlock()
	if s != nil {
		return s, nil
	}
	ss, err := g.reg.SchemaByID(context.Background(), id)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	if s, err = tavro.Parse(ss.Schema); err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.schemas[id] = s
	g.mu.Unlock()
	return s, nil
}

// decode is the decodeFunc of our records: Avro in Confluent's wire
// format, decoded with the schema it was written with, fields and types
// normalised as decodeConnectJSON normalises Debezium's (integers int64,
// decimals their exact string at the schema's scale, timestamps epoch
// milliseconds, dates epoch days; types by their Connect names).
func (g *goSource) decode(value []byte) (string, map[string]any, map[string]string, error) {
	s, err := g.writer(value)
	if err != nil {
		return "", nil, nil, err
	}
	var rec map[string]any
	rest, err := s.Decode(value[5:], &rec)
	if err != nil {
		return "", nil, nil, err
	}
	if len(rest) > 0 {
		return "", nil, nil, fmt.Errorf("%d bytes after the record", len(rest))
	}
	root := s.Root()
	fields, types := map[string]any{}, map[string]string{}
	for _, f := range root.Fields {
		n := f.Type
		if n.Type == "union" {
			for _, b := range n.Branches {
				if b.Type != "null" {
					n = b
				}
			}
		}
		v := rec[f.Name]
		switch n.LogicalType {
		case "decimal":
			types[f.Name] = fmt.Sprintf("org.apache.kafka.connect.data.Decimal(scale %d)", n.Scale)
			if r, ok := v.(*big.Rat); ok {
				v = r.FloatString(n.Scale)
			}
		case "timestamp-millis":
			types[f.Name] = "org.apache.kafka.connect.data.Timestamp"
			if tm, ok := v.(time.Time); ok {
				v = tm.UnixMilli()
			}
		case "date":
			types[f.Name] = "org.apache.kafka.connect.data.Date"
			if tm, ok := v.(time.Time); ok {
				v = tm.Unix() / 86400
			}
		default:
			types[f.Name] = map[string]string{"long": "int64", "int": "int32", "float": "float", "double": "double"}[n.Type]
			if types[f.Name] == "" {
				types[f.Name] = n.Type
			}
			if i, ok := v.(int32); ok {
				v = int64(i)
			}
		}
		fields[f.Name] = v
	}
	name := root.Name
	if root.Namespace != "" && !strings.Contains(name, ".") {
		name = root.Namespace + "." + name
	}
	return name, fields, types, nil
}

// order is the order of the fields of our record's writer schema.
func (g *goSource) order(t *testing.T, value []byte) []string {
	s, err := g.writer(value)
	require.NoError(t, err)
	var out []string
	for _, f := range s.Root().Fields {
		out = append(out, f.Name)
	}
	return out
}

// historyDiff compares two CDC sources' records of one table key by key,
// every record of each key in order: partition, null value or not,
// headers, record name, fields and their values and types. "" when they
// agree.
func historyDiff(debezium, ours []cdcRecord, ignore ...string) string {
	byKey := func(recs []cdcRecord) map[string][]cdcRecord {
		out := map[string][]cdcRecord{}
		for _, r := range recs {
			out[r.Key] = append(out[r.Key], r)
		}
		return out
	}
	d, o := byKey(debezium), byKey(ours)
	var diffs []string
	for k, dr := range d {
		or, ok := o[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("key %q: %d Debezium records, none of ours", k, len(dr)))
			continue
		}
		if len(or) != len(dr) {
			diffs = append(diffs, fmt.Sprintf("key %q: %d Debezium records, %d of ours", k, len(dr), len(or)))
			continue
		}
		for i := range dr {
			a, b := dr[i], or[i]
			at := fmt.Sprintf("key %q record %d", k, i)
			switch {
			case a.Partition != b.Partition:
				diffs = append(diffs, fmt.Sprintf("%s: partition %d, ours %d", at, a.Partition, b.Partition))
			case a.Tombstone != b.Tombstone:
				diffs = append(diffs, fmt.Sprintf("%s: tombstone %v, ours %v", at, a.Tombstone, b.Tombstone))
			case fmt.Sprint(a.Headers) != fmt.Sprint(b.Headers):
				diffs = append(diffs, fmt.Sprintf("%s: headers %v, ours %v", at, a.Headers, b.Headers))
			case a.Tombstone:
			case a.SchemaName != b.SchemaName:
				diffs = append(diffs, fmt.Sprintf("%s: record %s, ours %s", at, a.SchemaName, b.SchemaName))
			default:
				for _, f := range sortedKeys(a.Fields, b.Fields) {
					if slices.Contains(ignore, f) {
						continue
					}
					av, aok := a.Fields[f]
					bv, bok := b.Fields[f]
					if aok != bok || fmt.Sprintf("%T %v", av, av) != fmt.Sprintf("%T %v", bv, bv) || a.Types[f] != b.Types[f] {
						diffs = append(diffs, fmt.Sprintf("%s: field %s = %#v (%s, present %v), ours %#v (%s, present %v)", at, f, av, a.Types[f], aok, bv, b.Types[f], bok))
					}
				}
			}
		}
	}
	for k, or := range o {
		if _, ok := d[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("key %q: %d of our records, none of Debezium's", k, len(or)))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("... %d more", len(diffs)-10))
	}
	return strings.Join(diffs, "\n")
}

func sortedKeys(ms ...map[string]any) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
