package schemaregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
)

// A record in three versions: v2 adds an optional field with a default
// (BACKWARD compatible), the others are not.
const (
	userV1 = `{"type":"record","name":"User","namespace":"io.orderstream.test","fields":[
		{"name":"id","type":"long"},{"name":"name","type":"string"}]}`
	userV2 = `{"type":"record","name":"User","namespace":"io.orderstream.test","fields":[
		{"name":"id","type":"long"},{"name":"name","type":"string"},
		{"name":"email","type":["null","string"],"default":null}]}`
	// A field added without a default: data written with v1 has no value for it.
	userNoDefault = `{"type":"record","name":"User","namespace":"io.orderstream.test","fields":[
		{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"age","type":"int"}]}`
	// id changes type: a long cannot be read as a string.
	userTypeChange = `{"type":"record","name":"User","namespace":"io.orderstream.test","fields":[
		{"name":"id","type":"string"},{"name":"name","type":"string"}]}`
)

// fixture is a journal topic of its own on a cluster (real brokers are
// shared between tests and runs) and a client for it.
type fixture struct {
	t       *testing.T
	brokers []string
	topic   string
	cl      *kgo.Client
}

func newFixture(t *testing.T, brokers []string) *fixture {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return &fixture{t: t, brokers: brokers, topic: testkit.Unique("_schemas-test"), cl: cl}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs a registry on the fixture's journal; it is closed at the end
// of the test (closing it earlier is fine).
func (f *fixture) start() *Server {
	s, err := Start(context.Background(), "127.0.0.1:0", f.cl, f.topic, quiet())
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = s.Close() })
	return s
}

func client(t *testing.T, s *Server) *sr.Client {
	c, err := sr.NewClient(sr.URLs(s.URL()))
	require.NoError(t, err)
	return c
}

func avroSchema(text string) sr.Schema { return sr.Schema{Schema: text, Type: sr.TypeAvro} }

// post sends body to the registry and returns the status and the decoded
// JSON answer.
func post(t *testing.T, method, url string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "answer %s", raw)
	return res.StatusCode, out
}

func TestIncompatibleVersionIsRefused(t *testing.T) {
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		f := newFixture(t, brokers)
		s := f.start()
		c := client(t, s)
		ctx := context.Background()
		id1, err := c.RegisterSchema(ctx, "users-value", avroSchema(userV1), -1, -1)
		require.NoError(t, err)

		for name, bad := range map[string]string{"a field added without default": userNoDefault, "a type change": userTypeChange} {
			// Confluent's answer: HTTP 409, {"error_code":409,"message":...}.
			status, body := post(t, http.MethodPost, s.URL()+"/subjects/users-value/versions", map[string]string{"schema": bad})
			assert.Equal(t, http.StatusConflict, status, name)
			assert.EqualValues(t, 409, body["error_code"], name)
			assert.Contains(t, body["message"], `Schema being registered is incompatible with an earlier schema for subject "users-value"`, name)
			assert.Contains(t, body["message"], "BACKWARD", name)
			// What franz-go's client makes of it.
			_, err := c.RegisterSchema(ctx, "users-value", avroSchema(bad), -1, -1)
			var re *sr.ResponseError
			require.ErrorAs(t, err, &re, name)
			assert.Equal(t, sr.ErrIncompatibleSchema.Code, re.ErrorCode, name)
			// The compatibility endpoint says the same, without registering.
			res, err := c.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "users-value", -1, avroSchema(bad))
			require.NoError(t, err)
			assert.False(t, res.Is, name)
			assert.NotEmpty(t, res.Messages, name)
		}
		_, body := post(t, http.MethodPost, s.URL()+"/subjects/users-value/versions", map[string]string{"schema": userNoDefault})
		assert.Contains(t, body["message"], "age", "the message names the field")
		versions, err := c.SubjectVersions(ctx, "users-value")
		require.NoError(t, err)
		assert.Equal(t, []int{1}, versions, "nothing registered by the refused versions")

		// A compatible evolution: a new version and a new id.
		res, err := c.CheckCompatibility(ctx, "users-value", -1, avroSchema(userV2))
		require.NoError(t, err)
		assert.True(t, res.Is)
		id2, err := c.RegisterSchema(ctx, "users-value", avroSchema(userV2), -1, -1)
		require.NoError(t, err)
		assert.NotEqual(t, id1, id2)
		got, err := c.SchemaByVersion(ctx, "users-value", -1)
		require.NoError(t, err)
		assert.Equal(t, 2, got.Version)
		assert.Equal(t, id2, got.ID)
		// Registering it again changes nothing.
		again, err := c.RegisterSchema(ctx, "users-value", avroSchema(userV2), -1, -1)
		require.NoError(t, err)
		assert.Equal(t, id2, again)
		versions, err = c.SubjectVersions(ctx, "users-value")
		require.NoError(t, err)
		assert.Equal(t, []int{1, 2}, versions)

		// An unparsable schema is 422 (42201), not 409.
		status, body := post(t, http.MethodPost, s.URL()+"/subjects/users-value/versions", map[string]string{"schema": `{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}`})
		assert.Equal(t, http.StatusUnprocessableEntity, status)
		assert.EqualValues(t, 42201, body["error_code"])
	})
}

// TestCompatibilityLevels: each level against a subject's history.
func TestCompatibilityLevels(t *testing.T) {
	rec := func(fields string) string {
		return `{"type":"record","name":"R","fields":[` + fields + `]}`
	}
	var (
		aInt       = rec(`{"name":"a","type":"int"}`)
		empty      = rec(``)
		aString    = rec(`{"name":"a","type":"string","default":""}`)
		aLong      = rec(`{"name":"a","type":"long"}`)
		aIntBInt   = rec(`{"name":"a","type":"int"},{"name":"b","type":"int"}`)
		aIntBMaybe = rec(`{"name":"a","type":"int"},{"name":"b","type":["null","int"],"default":null}`)
	)
	cases := []struct {
		level   sr.CompatibilityLevel
		history []string
		next    string
		ok      bool
	}{
		{sr.CompatBackward, []string{aInt}, aLong, true},                     // int promotes to long
		{sr.CompatForward, []string{aInt}, aLong, false},                     // a long cannot be read as an int
		{sr.CompatBackward, []string{aInt}, aIntBInt, false},                 // b has no default
		{sr.CompatForward, []string{aInt}, aIntBInt, true},                   // the old reader ignores b
		{sr.CompatFull, []string{aInt}, aIntBInt, false},                     // not backward
		{sr.CompatFull, []string{aInt}, aIntBMaybe, true},                    // both ways
		{sr.CompatBackward, []string{aInt, empty}, aString, true},            // against the latest only
		{sr.CompatBackwardTransitive, []string{aInt, empty}, aString, false}, // v1's int a is no string
		{sr.CompatForwardTransitive, []string{aInt, aIntBMaybe}, aLong, false},
		{sr.CompatNone, []string{aInt}, rec(`{"name":"a","type":"boolean"}`), true},
	}
	brokers := testkit.Kfake(t)
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s", i, tc.level), func(t *testing.T) {
			f := newFixture(t, brokers)
			c := client(t, f.start())
			ctx := context.Background()
			subject := fmt.Sprintf("levels-%d", i)
			for _, h := range tc.history {
				_, err := c.RegisterSchema(ctx, subject, avroSchema(h), -1, -1)
				require.NoError(t, err)
			}
			res := c.SetCompatibility(ctx, sr.SetCompatibility{Level: tc.level}, subject)
			require.NoError(t, res[0].Err)
			check, err := c.CheckCompatibility(ctx, subject, -2, avroSchema(tc.next))
			require.NoError(t, err)
			assert.Equal(t, tc.ok, check.Is, "check against all the level says")
			_, err = c.RegisterSchema(ctx, subject, avroSchema(tc.next), -1, -1)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				var re *sr.ResponseError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, 409, re.ErrorCode)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	s := f.start()
	c := client(t, s)
	ctx := context.Background()
	res := c.Compatibility(ctx)
	require.NoError(t, res[0].Err)
	assert.Equal(t, sr.CompatBackward, res[0].Level, "Confluent's default")

	// A subject without its own level: 40408, unless defaultToGlobal.
	res = c.Compatibility(ctx, "orders-value")
	var re *sr.ResponseError
	require.ErrorAs(t, res[0].Err, &re)
	assert.Equal(t, sr.ErrSubjectLevelCompatibilityNotConfigured.Code, re.ErrorCode)
	res = c.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "orders-value")
	require.NoError(t, res[0].Err)
	assert.Equal(t, sr.CompatBackward, res[0].Level)

	res = c.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "orders-value")
	require.NoError(t, res[0].Err)
	assert.Equal(t, sr.CompatFull, res[0].Level)
	res = c.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone})
	require.NoError(t, res[0].Err)

	status, body := post(t, http.MethodPut, s.URL()+"/config/orders-value", map[string]string{"compatibility": "SIDEWAYS"})
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.EqualValues(t, 42203, body["error_code"])

	// The levels survive a restart.
	require.NoError(t, s.Close())
	s = f.start()
	c = client(t, s)
	res = c.Compatibility(ctx, "orders-value", sr.GlobalSubject)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	assert.Equal(t, sr.CompatFull, res[0].Level)
	assert.Equal(t, sr.CompatNone, res[1].Level)

	// DELETE /config/{subject} answers the old level, then the subject has none.
	status, body = post(t, http.MethodDelete, s.URL()+"/config/orders-value", nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "FULL", body["compatibilityLevel"])
	res = c.Compatibility(ctx, "orders-value")
	require.ErrorAs(t, res[0].Err, &re)
	assert.Equal(t, 40408, re.ErrorCode)
}

func TestIDsSurviveARestart(t *testing.T) {
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		f := newFixture(t, brokers)
		ctx := context.Background()
		s := f.start()
		c := client(t, s)
		ids := map[string]int{}
		for subject, schema := range map[string]string{
			"orders-value": avro.OrderSchema, "order-details-value": avro.OrderDetailsSchema,
			"orders-details-retry-value": avro.OrderDetailsSchema, // same schema, second subject
			"customers-value":            avro.CustomerSchema,
			"users-value":                userV1,
		} {
			var err error
			ids[subject], err = c.RegisterSchema(ctx, subject, avroSchema(schema), -1, -1)
			require.NoError(t, err)
		}
		assert.Equal(t, ids["order-details-value"], ids["orders-details-retry-value"], "one schema, one id")
		v2, err := c.RegisterSchema(ctx, "users-value", avroSchema(userV2), -1, -1)
		require.NoError(t, err)
		// A soft-deleted subject stays deleted; its ids stay readable.
		_, err = c.DeleteSubject(ctx, "customers-value", sr.SoftDelete)
		require.NoError(t, err)
		require.NoError(t, s.Close())

		s = f.start()
		c = client(t, s)
		for subject, id := range ids {
			got, err := c.SchemaByID(ctx, id)
			require.NoError(t, err, subject)
			assert.NotEmpty(t, got.Schema)
			if subject == "customers-value" {
				continue
			}
			again, err := c.RegisterSchema(ctx, subject, got, -1, -1)
			require.NoError(t, err)
			assert.Equal(t, id, again, "%s keeps its id", subject)
		}
		latest, err := c.SchemaByVersion(ctx, "users-value", -1)
		require.NoError(t, err)
		assert.Equal(t, 2, latest.Version)
		assert.Equal(t, v2, latest.ID)
		subjects, err := c.Subjects(ctx)
		require.NoError(t, err)
		assert.NotContains(t, subjects, "customers-value")
		// The compatibility check is against the restored history.
		_, err = c.RegisterSchema(ctx, "users-value", avroSchema(userNoDefault), -1, -1)
		var re *sr.ResponseError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 409, re.ErrorCode)
		// A new schema after the restart gets an id never given before.
		next, err := c.RegisterSchema(ctx, "products-value", avroSchema(avro.ProductSchema), -1, -1)
		require.NoError(t, err)
		for _, id := range append([]int{v2}, values(ids)...) {
			assert.NotEqual(t, id, next)
		}
		// Registering a soft-deleted subject's schema again: a new version, the same id.
		again, err := c.RegisterSchema(ctx, "customers-value", avroSchema(avro.CustomerSchema), -1, -1)
		require.NoError(t, err)
		assert.Equal(t, ids["customers-value"], again)
		versions, err := c.SubjectVersions(ctx, "customers-value")
		require.NoError(t, err)
		assert.Equal(t, []int{2}, versions)
	})
}

func values(m map[string]int) []int {
	var out []int
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestInstancesShareTheJournal: two instances on one journal serve the
// same ids, and registrations through both at once never give one id to
// two schemas or one version to two ids.
func TestInstancesShareTheJournal(t *testing.T) {
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		f := newFixture(t, brokers)
		ctx := context.Background()
		a, b := f.start(), f.start()
		ca, cb := client(t, a), client(t, b)
		id, err := ca.RegisterSchema(ctx, "users-value", avroSchema(userV1), -1, -1)
		require.NoError(t, err)
		// b has not necessarily read it yet: asked for an id it does not
		// know, it reads the journal to its end first.
		got, err := cb.SchemaByID(ctx, id)
		require.NoError(t, err)
		assert.JSONEq(t, userV1, got.Schema)

		// Distinct schemas (one field name each) through both at once,
		// into shared subjects.
		const n = 12
		type result struct {
			schema string
			id     int
			err    error
		}
		results := make(chan result, 2*n)
		var wg sync.WaitGroup
		for i := range 2 * n {
			c := ca
			if i%2 == 1 {
				c = cb
			}
			schema := fmt.Sprintf(`{"type":"record","name":"R","fields":[{"name":"f%d","type":["null","string"],"default":null}]}`, i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, err := c.RegisterSchema(ctx, fmt.Sprintf("shared-%d", i%3), avroSchema(schema), -1, -1)
				results <- result{schema, id, err}
			}()
		}
		wg.Wait()
		close(results)
		byID := map[int]string{}
		for r := range results {
			require.NoError(t, r.err)
			other, dup := byID[r.id]
			assert.False(t, dup, "id %d given to two schemas: %s and %s", r.id, other, r.schema)
			byID[r.id] = r.schema
		}
		// Both instances agree on every id and every version.
		for id, schema := range byID {
			for name, c := range map[string]*sr.Client{"a": ca, "b": cb} {
				got, err := c.SchemaByID(ctx, id)
				require.NoError(t, err, name)
				assert.JSONEq(t, schema, got.Schema, "instance %s, id %d", name, id)
			}
		}
		for i := range 3 {
			subject := fmt.Sprintf("shared-%d", i)
			va, err := ca.Schemas(ctx, subject)
			require.NoError(t, err)
			require.Eventually(t, func() bool { // b reads the journal as it goes
				vb, err := cb.Schemas(ctx, subject)
				return err == nil && len(vb) == len(va)
			}, time.Minute, 20*time.Millisecond)
			vb, err := cb.Schemas(ctx, subject)
			require.NoError(t, err)
			assert.Equal(t, va, vb, subject)
			assert.Len(t, va, 2*n/3)
		}
	})
}

// TestCodecs: the codecs register through the registry, read records
// written with a newer compatible schema, and fail to start with a schema
// the subject's level refuses.
func TestCodecs(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	s := f.start()
	ctx := context.Background()
	reg := codecs.NewRegistry(client(t, s))
	v1, err := codecs.NewAvro[avro.Customer](ctx, reg, "customers-value", avro.CustomerSchema)
	require.NoError(t, err)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in := &avro.Customer{ID: 42, FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", CreatedAt: at, UpdatedAt: at}
	raw, err := v1.Encode(in)
	require.NoError(t, err)
	out, err := v1.DecodeValue(raw)
	require.NoError(t, err)
	assert.Equal(t, in, out)

	// The CDC source's evolution: a new nullable column, as a new version.
	evolved := strings.Replace(avro.CustomerSchema, `{"name": "created_at"`, `{"name": "loyalty", "type": ["null", "string"], "default": null},
    {"name": "created_at"`, 1)
	require.NotEqual(t, avro.CustomerSchema, evolved)
	type customerV2 struct {
		avro.Customer
		Loyalty *string `avro:"loyalty"`
	}
	v2, err := codecs.NewAvro[customerV2](ctx, reg, "customers-value", evolved)
	require.NoError(t, err)
	assert.NotEqual(t, v1.SchemaID(), v2.SchemaID())
	gold := "gold"
	raw, err = v2.Encode(&customerV2{Customer: *in, Loyalty: &gold})
	require.NoError(t, err)
	out, err = v1.DecodeValue(raw)
	require.NoError(t, err, "the old reader reads the new writer's record")
	assert.Equal(t, in, out)

	// A change the subject refuses stops the codec at start, with the
	// registry's reason.
	broken := strings.Replace(avro.CustomerSchema, `{"name": "email", "type": "string"}`, `{"name": "email", "type": "long"}`, 1)
	require.NotEqual(t, avro.CustomerSchema, broken)
	_, err = codecs.NewAvro[avro.Customer](ctx, reg, "customers-value", broken)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "incompatible")
}

// TestJournalFormat: the records are Confluent's (so Confluent's registry
// or Karapace can read the topic), and the first version's journal is read.
func TestJournalFormat(t *testing.T) {
	brokers := testkit.Kfake(t)
	f := newFixture(t, brokers)
	ctx := context.Background()

	// The first version's journal: key "subject/version", its own value.
	res, err := kadm.NewClient(f.cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, f.topic)
	require.NoError(t, err)
	require.NoError(t, res.Err)
	legacy := func(subject string, version, id int, schema string) *kgo.Record {
		v, _ := json.Marshal(map[string]any{"subject": subject, "version": version, "id": id, "schema": schema, "schemaType": "AVRO"})
		return &kgo.Record{Topic: f.topic, Key: fmt.Appendf(nil, "%s/%d", subject, version), Value: v}
	}
	require.NoError(t, f.cl.ProduceSync(ctx,
		legacy("users-value", 1, 7, userV1), legacy("other-value", 1, 7, userV1), legacy("users-value", 2, 9, userV2)).FirstErr())

	s := f.start()
	c := client(t, s)
	got, err := c.SchemaByVersion(ctx, "users-value", 2)
	require.NoError(t, err)
	assert.Equal(t, 9, got.ID)
	got, err = c.SchemaByVersion(ctx, "other-value", 1)
	require.NoError(t, err)
	assert.Equal(t, 7, got.ID)
	id, err := c.RegisterSchema(ctx, "new-value", avroSchema(avro.ProductSchema), -1, -1)
	require.NoError(t, err)
	assert.Equal(t, 10, id, "after the highest id of the journal")
	res2 := c.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "new-value")
	require.NoError(t, res2[0].Err)

	// What it wrote.
	var keys, vals []string
	require.NoError(t, readAll(ctx, f.cl, f.brokers, f.topic, func(r *kgo.Record) {
		if r.Key[0] == '{' && !strings.Contains(string(r.Key), keyNoop) {
			keys = append(keys, string(r.Key))
			vals = append(vals, string(r.Value))
		}
	}))
	require.Equal(t, []string{
		`{"keytype":"SCHEMA","subject":"new-value","version":1,"magic":1}`,
		`{"keytype":"CONFIG","subject":"new-value","magic":0}`,
	}, keys)
	var sv map[string]any
	require.NoError(t, json.Unmarshal([]byte(vals[0]), &sv))
	assert.Equal(t, map[string]any{"subject": "new-value", "version": 1.0, "id": 10.0, "schema": avro.ProductSchema, "deleted": false}, sv)
	assert.JSONEq(t, `{"compatibilityLevel":"FULL"}`, vals[1])
}

// readAll reads every committed record of topic (what the registry itself
// reads), up to the end it has now.
func readAll(ctx context.Context, cl *kgo.Client, brokers []string, topic string, fn func(*kgo.Record)) error {
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return err
	}
	end, _ := ends.Lookup(topic, 0)
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer rd.Close()
	for {
		fs := rd.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			return err
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if !r.Attrs.IsControl() {
				fn(r)
			}
			if r.Offset >= end.Offset-1 {
				return nil
			}
		}
	}
}

func TestDeletes(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	s := f.start()
	c := client(t, s)
	ctx := context.Background()
	id1, err := c.RegisterSchema(ctx, "users-value", avroSchema(userV1), -1, -1)
	require.NoError(t, err)
	_, err = c.RegisterSchema(ctx, "users-value", avroSchema(userV2), -1, -1)
	require.NoError(t, err)

	var re *sr.ResponseError
	err = c.DeleteSchema(ctx, "users-value", 2, sr.HardDelete)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, sr.ErrSchemaVersionNotSoftDeleted.Code, re.ErrorCode, "a hard delete needs a soft delete first")
	require.NoError(t, c.DeleteSchema(ctx, "users-value", 2, sr.SoftDelete))
	versions, err := c.SubjectVersions(ctx, "users-value")
	require.NoError(t, err)
	assert.Equal(t, []int{1}, versions)
	require.NoError(t, c.DeleteSchema(ctx, "users-value", 2, sr.HardDelete))

	deleted, err := c.DeleteSubject(ctx, "users-value", sr.SoftDelete)
	require.NoError(t, err)
	assert.Equal(t, []int{1}, deleted)
	_, err = c.SubjectVersions(ctx, "users-value")
	require.ErrorAs(t, err, &re)
	assert.Equal(t, sr.ErrSubjectNotFound.Code, re.ErrorCode)
	got, err := c.SchemaByID(ctx, id1)
	require.NoError(t, err, "a soft-deleted version's id stays readable")
	assert.JSONEq(t, userV1, got.Schema)
	_, err = c.DeleteSubject(ctx, "users-value", sr.SoftDelete)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, sr.ErrSubjectSoftDeleted.Code, re.ErrorCode)
	deleted, err = c.DeleteSubject(ctx, "users-value", sr.HardDelete)
	require.NoError(t, err)
	assert.Equal(t, []int{1}, deleted)

	require.NoError(t, s.Close())
	s = f.start()
	c = client(t, s)
	_, err = c.SchemaByID(ctx, id1)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, sr.ErrSchemaNotFound.Code, re.ErrorCode, "hard-deleted, after a restart too")
	id, err := c.RegisterSchema(ctx, "users-value", avroSchema(userTypeChange), -1, -1)
	require.NoError(t, err, "no history left to be compatible with")
	assert.Greater(t, id, id1+1, "ids are not handed out twice")
}

// TestJournalTopicChecked: a journal that would lose schemas or their
// order is refused at start, naming the fix.
func TestJournalTopicChecked(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	ctx := context.Background()
	adm := kadm.NewClient(f.cl)
	res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, f.topic)
	require.NoError(t, err)
	require.NoError(t, res.Err)
	_, err = Start(ctx, "127.0.0.1:0", f.cl, f.topic, quiet())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cleanup.policy=delete: it must be compact")

	three := testkit.Unique("_schemas-three")
	res, err = adm.CreateTopic(ctx, 3, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, three)
	require.NoError(t, err)
	require.NoError(t, res.Err)
	_, err = Start(ctx, "127.0.0.1:0", f.cl, three, quiet())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has 3 partitions; it must have one")
}

func TestHealthz(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	s := f.start()
	res, err := http.Get(s.URL() + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	require.NoError(t, s.Registry.Close())
	res, err = http.Get(s.URL() + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Error(t, s.Err())
}
