package mongosink

import (
	"context"
	"encoding/binary"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/deadletter"
)

// TestSinkWritesLatestValuePerKey streams updates and tombstones of a few
// hundred customers, part before the sink starts and part while it runs,
// and checks that the collection ends with exactly the latest total of each
// customer (deleted ones absent, decimals exact, times as Dates), that the
// offsets are committed, and that a second run of the group reads only what
// came after.
func TestSinkWritesLatestValuePerKey(t *testing.T) {
	testkit.Slow(t, "20,000 records through FerretDB")
	mongo := startMongo(t)
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		for _, insertNew := range []bool{true, false} {
			t.Run("insert.new.keys="+strconv.FormatBool(insertNew), func(t *testing.T) {
				f := newFixture(t, brokers, 3, mongo.URI())
				h := newHistory(1)
				f.produce(h, 2000, 300)
				log, _ := testLogger(t, "sink", slog.LevelWarn)
				opts := f.options(log)
				opts.InsertNewKeys = &insertNew
				sink, stop := runSink(t, opts)
				f.produce(h, 2000, 300)
				f.awaitCommitted(2 * time.Minute)
				require.NoError(t, stop())

				f.checkCollection(h.want)
				st := sink.Stats()
				assert.EqualValues(t, 4000, st.Consumed)
				assert.Zero(t, st.DeadLettered)
				assert.Less(t, st.Upserted+st.Deleted, st.Consumed, "coalescing writes fewer changes than records")
				t.Logf("%d records, %d upserts, %d deletes, %d commits, %d documents", st.Consumed, st.Upserted, st.Deleted, st.Commits, len(h.want))
				assert.Empty(t, f.readTopic(f.dlq))
				f.awaitCommitted(time.Second) // still: the stop committed nothing less

				// A second run of the group starts at the committed
				// offsets: of one more record, it reads exactly that one.
				sink2, stop2 := runSink(t, opts)
				f.produce(h, 1, 300)
				testkit.Await(t, 2*time.Minute, "the second run to read the new record", func() (bool, string) {
					n := sink2.Stats().Consumed
					return n >= 1, strconv.FormatInt(n, 10)
				})
				f.awaitCommitted(2 * time.Minute)
				require.NoError(t, stop2())
				assert.EqualValues(t, 1, sink2.Stats().Consumed, "the second run re-read committed records")
				f.checkCollection(h.want)
			})
		}
	})
}

// TestBadRecordsGoToTheDeadLetterTopic mixes records that cannot become
// documents with good ones: the bad ones land on the DLQ byte for byte with
// Kafka Connect's headers, the good ones (before and after) in MongoDB. (A
// null key cannot be tested here: Kafka refuses it on a compacted topic.)
func TestBadRecordsGoToTheDeadLetterTopic(t *testing.T) {
	mongo := startMongo(t)
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		f := newFixture(t, brokers, 1, mongo.URI())
		good := func(key string, id int64, amount string) []byte {
			v, err := f.codec.Encode(&avro.CustomerTotal{CustomerID: id, CustomerName: "n" + key, OrderCount: 1,
				TotalAmount: rat(amount), UpdatedAt: time.UnixMilli(1_700_000_000_123).UTC()})
			require.NoError(t, err)
			return v
		}
		unknownID := []byte{0, 0, 0, 0x7a, 0x69, 2, 4}
		badBody := append([]byte{0, 0, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		binary.BigEndian.PutUint32(badBody[1:5], uint32(f.codec.SchemaID()))
		recs := []struct {
			key, value []byte
			stage      string // "" for a good record
			why        string
		}{
			{[]byte("1"), good("1", 1, "0.10"), "", ""},
			{[]byte("2"), []byte("hello, not avro"), deadletter.StageDecode, "not Confluent wire format"},
			{[]byte("3"), unknownID, deadletter.StageDecode, "schema id unknown"},
			{[]byte("4"), badBody, deadletter.StageDecode, "does not decode"},
			{[]byte("5"), []byte{}, deadletter.StageDecode, "not Confluent wire format"},
			{[]byte("five"), good("five", 5, "1.00"), deadletter.StageValidate, "not a decimal row id"},
			{[]byte("042"), good("042", 42, "1.00"), deadletter.StageValidate, "canonical"},
			{[]byte("7"), good("7", 6, "1.00"), deadletter.StageValidate, "holds the total of customer 6"},
			{[]byte("x"), nil, deadletter.StageValidate, "not a decimal row id"},
			{[]byte("9"), good("9", 9, "0.20"), "", ""},
			{[]byte("1"), good("1", 1, "0.30"), "", ""},
		}
		var batch []*kgo.Record
		for i, r := range recs {
			rec := &kgo.Record{Topic: f.topic, Key: r.key, Value: r.value}
			if i == 2 {
				rec.Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}
			}
			batch = append(batch, rec)
		}
		require.NoError(t, f.client.ProduceSync(context.Background(), batch...).FirstErr())

		log, logs := testLogger(t, "sink", slog.LevelWarn)
		sink, stop := runSink(t, f.options(log))
		f.awaitCommitted(2 * time.Minute)
		require.NoError(t, stop())

		f.checkAmounts(map[string]string{"1": "0.30", "9": "0.20"})
		dlq := f.readTopic(f.dlq)
		var wantBad []int
		for i, r := range recs {
			if r.stage != "" {
				wantBad = append(wantBad, i)
			}
		}
		require.Len(t, dlq, len(wantBad))
		assert.EqualValues(t, len(wantBad), sink.Stats().DeadLettered)
		for j, d := range dlq {
			i := wantBad[j]
			r := recs[i]
			h := headers(d)
			assert.Equal(t, r.key, d.Key, "record %d", i)
			assert.Equal(t, r.value, d.Value, "record %d: the original bytes", i)
			assert.Equal(t, r.value == nil, d.Value == nil, "record %d: null stays null", i)
			assert.Equal(t, f.topic, h[deadletter.HeaderTopic], "record %d", i)
			assert.Equal(t, "0", h[deadletter.HeaderPartition], "record %d", i)
			assert.Equal(t, strconv.Itoa(i), h[deadletter.HeaderOffset], "record %d", i)
			assert.Equal(t, r.stage, h[deadletter.HeaderStage], "record %d", i)
			assert.Equal(t, DefaultName, h[deadletter.HeaderConnector], "record %d", i)
			assert.Contains(t, h[deadletter.HeaderExceptionMessage], r.why, "record %d", i)
			assert.NotEmpty(t, h[deadletter.HeaderExceptionClass], "record %d", i)
			for _, name := range deadletter.HeaderNames {
				assert.NotEmpty(t, h[name], "record %d: header %s (Kafka Connect writes ten)", i, name)
			}
			assert.Equal(t, "0", h[deadletter.HeaderTaskID], "record %d: the partition", i)
			wantClass := "github.com/orderstream/pipeline/connectors/mongosink.Sink"
			if r.stage == deadletter.StageDecode {
				wantClass = "github.com/orderstream/pipeline/codecs.Avro[github.com/orderstream/pipeline/avro.CustomerTotal]"
			}
			assert.Equal(t, wantClass, h[deadletter.HeaderClass], "record %d", i)
			assert.True(t, strings.HasPrefix(h[deadletter.HeaderStacktrace], h[deadletter.HeaderExceptionClass]+": ") ||
				strings.Contains(h[deadletter.HeaderStacktrace], "Caused by: "+h[deadletter.HeaderExceptionClass]+": "), "record %d: the chain names the error: %s", i, h[deadletter.HeaderStacktrace])
			if i == 2 {
				assert.Equal(t, "abc", h["trace"], "the record's own headers are kept")
			}
			assert.Contains(t, logs.String(), "offset="+strconv.Itoa(i), "dead-lettered records are logged with their offset")
		}
	})
}

func headers(r *kgo.Record) map[string]string {
	out := map[string]string{}
	for _, h := range r.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

// checkAmounts checks the set of documents and their totals.
func (f *fixture) checkAmounts(want map[string]string) {
	f.t.Helper()
	ctx := context.Background()
	cur, err := f.coll.Find(ctx, map[string]any{})
	require.NoError(f.t, err)
	var docs []map[string]any
	require.NoError(f.t, cur.All(ctx, &docs))
	got := map[string]string{}
	for _, d := range docs {
		got[d["_id"].(string)], _ = d["total_amount"].(string)
	}
	require.Equal(f.t, want, got)
}

// TestUnreachableRegistryIsNotBadInput: a record written with a schema the
// sink has not seen yet cannot be decoded while the registry is down; the
// sink stops with the error (it is restarted by its main) instead of
// dead-lettering the record, and after the registry is back the record is
// written.
func TestUnreachableRegistryIsNotBadInput(t *testing.T) {
	mongo := startMongo(t)
	brokers := testkit.Kfake(t)
	f := newFixture(t, brokers, 1, mongo.URI())
	reg := newFlakyRegistry(t)
	ctx := context.Background()
	codec, err := codecs.NewAvro[avro.CustomerTotal](ctx, reg.client, codecs.ValueSubject(f.topic), avro.CustomerTotalSchema)
	require.NoError(t, err)
	// Record 2 is written with a newer schema (one more field), which the
	// sink's codec must fetch by id to resolve.
	require.NoError(t, f.client.ProduceSync(ctx,
		&kgo.Record{Topic: f.topic, Key: []byte("1"), Value: mustEncode(t, codec, 1, "0.10")},
		&kgo.Record{Topic: f.topic, Key: []byte("2"), Value: encodeExtra(t, reg.client, codecs.ValueSubject(f.topic), 2, "0.20")},
	).FirstErr())

	log, _ := testLogger(t, "sink", slog.LevelWarn)
	opts := f.options(log)
	opts.Codec = codec
	reg.down.Store(true)
	s, err := New(opts)
	require.NoError(t, err)
	runErr := s.Run(ctx) // returns by itself
	var re *codecs.RegistryError
	require.ErrorAs(t, runErr, &re, "%v", runErr)
	assert.Zero(t, s.Stats().DeadLettered)
	committed, _, err := f.offsets()
	require.NoError(t, err)
	assert.Equal(t, map[int32]int64{0: 1}, committed, "the record before is written and committed, the undecodable one is not")
	f.checkAmounts(map[string]string{"1": "0.10"})

	reg.down.Store(false)
	_, stop := runSink(t, opts)
	f.awaitCommitted(time.Minute)
	require.NoError(t, stop())
	f.checkAmounts(map[string]string{"1": "0.10", "2": "0.20"})
	assert.Empty(t, f.readTopic(f.dlq))
}
