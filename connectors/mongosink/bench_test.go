package mongosink

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/internal/testkit"
)

// BenchmarkSink measures the sink with its FerretDB settings (batch.size
// 50, max.buffered.keys 1000, flush.interval.ms 1000) writing to FerretDB
// (SQLite) from kfake: records read per second, and documents written per
// second, from a backlog of updates of random customers among 1,000 (the
// sink coalesces them) and of as many distinct customers as records (every
// record is a new document), with and without InsertNewKeys. FerretDB scans
// the collection for every _id lookup, so the cost of a replace grows with
// the collection; an insert uses the _id index.
//
//	go test -run '^$' -bench BenchmarkSink -benchtime 1x ./connectors/mongosink/
func BenchmarkSink(b *testing.B) {
	for _, bc := range []struct {
		records, keys int
		distinct      bool // every record a new key
		insertNew     bool // Options.InsertNewKeys
	}{
		{20_000, 1_000, false, true},
		{20_000, 20_000, true, true},
		// ReplaceOne upserts only, what the Kafka connector does: each
		// write scans the collection (20,000 new keys would take ~12 min).
		{20_000, 1_000, false, false},
		{5_000, 5_000, true, false},
	} {
		b.Run(fmt.Sprintf("records=%d/keys=%d/insert.new.keys=%t", bc.records, bc.keys, bc.insertNew), func(b *testing.B) {
			mongo := startMongo(b)
			brokers := testkit.Kfake(b)
			var elapsed time.Duration
			var records, docs int64
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				f := newFixture(b, brokers, 6, mongo.URI())
				h := newHistory(uint64(i))
				recs := make([]*kgo.Record, bc.records)
				for j := range recs {
					id := int64(j + 1)
					if !bc.distinct {
						id = int64(h.rng.IntN(bc.keys) + 1)
					}
					recs[j] = h.update(f, id)
				}
				for chunk := range slices.Chunk(recs, 5000) {
					require.NoError(b, f.client.ProduceSync(context.Background(), chunk...).FirstErr())
				}
				log, _ := testLogger(b, "sink", slog.LevelWarn)
				opts := f.options(log)
				opts.BatchSize, opts.MaxBufferedKeys, opts.FlushInterval, opts.WriteTimeout = 0, 0, 0, time.Minute // defaults
				opts.InsertNewKeys = &bc.insertNew
				b.StartTimer()

				start := time.Now()
				s, stop := runSink(b, opts)
				f.awaitCommitted(30 * time.Minute)
				elapsed += time.Since(start)

				b.StopTimer()
				require.NoError(b, stop())
				st := s.Stats()
				records += st.Consumed
				docs += st.Upserted + st.Deleted
				n, err := f.coll.CountDocuments(context.Background(), map[string]any{})
				require.NoError(b, err)
				require.EqualValues(b, len(h.want), n)
				b.StartTimer()
			}
			b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(docs)/elapsed.Seconds(), "docs/s")
			b.ReportMetric(float64(docs)/float64(records), "writes/record")
		})
	}
}
