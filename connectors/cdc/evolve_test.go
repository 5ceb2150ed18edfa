package cdc_test

import (
	"bytes"
	"context"
	binenc "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/connectors/cdc"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/schemaregistry"
)

// testRegistry is a schema registry of the tests with a client.
type testRegistry struct {
	url    string
	client *sr.Client
}

// backwardRegistry is the pipeline's schema registry (schemaregistry, what
// cmd/schema-registry and make run serve), journaled on the fixture's
// Kafka: like Confluent's by default it refuses (409) a new version under a
// subject that cannot read what the subject's latest version wrote
// (BACKWARD).
func backwardRegistry(t testing.TB, f *fixture) *testRegistry {
	s, err := schemaregistry.Start(context.Background(), "127.0.0.1:0", f.cl, f.db+"-schemas", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	client, err := sr.NewClient(sr.URLs(s.URL()))
	require.NoError(t, err)
	return &testRegistry{url: s.URL(), client: client}
}

// frozenRegistry answers 409, as Confluent's does to an incompatible
// version, to every version after a subject's first.
func frozenRegistry(t testing.TB) *testRegistry {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	client, err := sr.NewClient(sr.URLs(fake.URL()))
	require.NoError(t, err)
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		subject, ok := strings.CutPrefix(r.URL.Path, "/subjects/")
		if !ok || r.Method != http.MethodPost || !strings.HasSuffix(subject, "/versions") {
			return false
		}
		subject = strings.TrimSuffix(subject, "/versions")
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var s sr.Schema
		if json.Unmarshal(body, &s) != nil || !fake.SubjectExists(subject) {
			return false
		}
		if _, err := client.LookupSchema(r.Context(), subject, s); err == nil {
			return false // registered already: the registry answers its id
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]any{"error_code": 409,
			"message": "Schema being registered is incompatible with an earlier schema for subject \"" + subject + "\"; the subject takes no new versions"})
		return true
	})
	return &testRegistry{url: fake.URL(), client: client}
}

// versions are the schemas registered under subject, oldest first.
func (b *testRegistry) versions(t testing.TB, subject string) []sr.SubjectSchema {
	ss, err := b.client.Schemas(context.Background(), subject)
	require.NoError(t, err)
	return ss
}

// decoded is a record value decoded with the schema it was written with.
type decoded struct {
	id     int
	fields []string // in the writer schema's order
	values map[string]any
}

func (b *testRegistry) decode(t testing.TB, value []byte) decoded {
	t.Helper()
	require.True(t, len(value) > 5 && value[0] == 0, "not Confluent wire format: % x", value)
	id := int(binenc.BigEndian.Uint32(value[1:5]))
	s, err := b.client.SchemaByID(context.Background(), id)
	require.NoError(t, err)
	schema, err := tavro.Parse(s.Schema)
	require.NoError(t, err)
	d := decoded{id: id, values: map[string]any{}}
	for _, f := range schema.Root().Fields {
		d.fields = append(d.fields, f.Name)
	}
	rest, err := schema.Decode(value[5:], &d.values)
	require.NoError(t, err)
	require.Empty(t, rest)
	return d
}

// evolutionFixture is a fixture on the pipeline's schema registry, which
// checks BACKWARD compatibility.
func evolutionFixture(t *testing.T) (*fixture, *testRegistry) {
	f := newFixture(t, testkit.Kfake(t))
	return f, f.use(backwardRegistry(t, f))
}

func (f *fixture) use(r *testRegistry) *testRegistry {
	f.url, f.reg = r.url, codecs.NewRegistry(r.client)
	return r
}

// masterPosition is the server's current binlog position, stored as an
// offset: a source started with it resumes there.
func (f *fixture) masterPosition() string {
	var file, pos string
	var doDB, ignoreDB any
	require.NoError(f.t, f.root.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB))
	return fmt.Sprintf(`{"file":%q,"pos":%s,"snapshot_completed":true}`, file, pos)
}

func (f *fixture) storeOffset(v string) {
	require.NoError(f.t, f.cl.ProduceSync(context.Background(), &kgo.Record{Topic: f.opts.OffsetsTopic, Key: []byte(f.opts.Name), Value: []byte(v)}).FirstErr())
}

// awaitLatest polls until the latest record of key on topic satisfies ok.
func (f *fixture) awaitLatest(topic, key string, what string, ok func(value []byte) bool) []byte {
	f.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, _ := f.latest(topic)
		if v, found := got[key]; found && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: key %s of %s did not get there in a minute", what, key, topic)
		}
		time.Sleep(100 * time.Millisecond) // polling interval of a condition
	}
}

// TestColumnAddedByAlterTableEvolvesTheSchema: a column added by ALTER
// TABLE becomes a new optional field, last, registered as a new version
// that the BACKWARD-checking registry accepts; the records carry it, the
// pipeline's readers (the .avsc) still read them, a reader of the new
// version reads the old records; a dropped column's field stays, null; a
// restart keeps the evolved schema (no new version) and re-reads events
// from before both ALTERs right.
func TestColumnAddedByAlterTableEvolvesTheSchema(t *testing.T) {
	f, reg := evolutionFixture(t)
	customers := f.opts.Tables[0].Topic
	subject := codecs.ValueSubject(customers)
	stop := f.run(f.opts)
	f.await(time.Minute)
	require.Len(t, reg.versions(t, subject), 1)
	before := f.masterPosition()

	f.exec("UPDATE customers SET city = 'Before the ALTER' WHERE id = 7",
		"ALTER TABLE customers ADD COLUMN loyalty_tier VARCHAR(16) NULL",
		"UPDATE customers SET loyalty_tier = 'gold' WHERE id = 1",
		"INSERT INTO customers (id, first_name, last_name, email, credit_card, loyalty_tier) VALUES (1001, 'New', 'Column', 'new@example.com', '4111111111111111', 'silver')")
	v := f.awaitLatest(customers, "1", "the update after ALTER TABLE", func(v []byte) bool {
		return v != nil && reg.decode(t, v).values["loyalty_tier"] == "gold"
	})
	f.await(time.Minute) // every other column as in the table, read with the .avsc

	evolved := reg.decode(t, v)
	want := append(parseFields(t, avro.CustomerSchema), "loyalty_tier")
	assert.Equal(t, want, evolved.fields, "the new column is a new last field")
	versions := reg.versions(t, subject)
	require.Len(t, versions, 2, "one new version")
	assert.Equal(t, evolved.id, versions[1].ID)
	var field struct {
		Type    []string `json:"type"`
		Default any      `json:"default"`
	}
	require.NoError(t, json.Unmarshal(fieldJSON(t, versions[1].Schema.Schema, "loyalty_tier"), &field))
	assert.Equal(t, []string{"null", "string"}, field.Type, "optional")
	assert.Nil(t, field.Default)
	assert.Equal(t, "silver", reg.decode(t, f.awaitLatest(customers, "1001", "the insert", func(v []byte) bool { return v != nil })).values["loyalty_tier"])

	// A reader of the new version reads a record of the old one (BACKWARD).
	reader, err := codecs.NewAvro[map[string]any](context.Background(), f.reg, subject, versions[1].Schema.Schema)
	require.NoError(t, err)
	got, _ := f.latest(customers)
	old, err := reader.DecodeValue(got["2"])
	require.NoError(t, err)
	assert.Equal(t, versions[0].ID, reg.decode(t, got["2"]).id, "customer 2 is still the snapshot's record")
	assert.Nil(t, (*old)["loyalty_tier"])
	assert.Equal(t, int64(2), (*old)["id"])

	// A dropped column: its field stays, null, and no version is added.
	f.exec("ALTER TABLE customers DROP COLUMN loyalty_tier", "ALTER TABLE customers DROP COLUMN phone",
		"UPDATE customers SET city = 'After the DROP' WHERE id = 1")
	v = f.awaitLatest(customers, "1", "the update after DROP COLUMN", func(v []byte) bool {
		return v != nil && reg.decode(t, v).values["city"] == "After the DROP"
	})
	d := reg.decode(t, v)
	assert.Equal(t, want, d.fields)
	assert.Nil(t, d.values["loyalty_tier"])
	assert.Nil(t, d.values["phone"])
	assert.Equal(t, evolved.id, d.id)
	require.NoError(t, stop())
	assert.Len(t, reg.versions(t, subject), 2)

	// A restart from a position before both ALTERs: the schema it starts
	// with is the evolved one (no new version), and the events are read
	// with the columns they were written with.
	f.storeOffset(before)
	_, prior := f.latest(customers)
	seen := map[[2]int64]bool{}
	for _, r := range prior {
		seen[[2]int64{int64(r.Partition), r.Offset}] = true
	}
	stop = f.run(f.opts)
	var replay map[string][]decoded // by key, in the order written
	for deadline := time.Now().Add(time.Minute); ; {
		_, all := f.latest(customers)
		replay = map[string][]decoded{}
		for _, r := range all {
			if !seen[[2]int64{int64(r.Partition), r.Offset}] && r.Value != nil {
				replay[string(r.Key)] = append(replay[string(r.Key)], reg.decode(t, r.Value))
			}
		}
		if len(replay["7"]) >= 1 && len(replay["1"]) >= 2 && len(replay["1001"]) >= 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the events after the stored position were not read again: %v", replay)
		time.Sleep(100 * time.Millisecond) // polling interval of a condition
	}
	require.NoError(t, stop())
	assert.Len(t, reg.versions(t, subject), 2, "the restarted source writes with the evolved schema")
	for k, recs := range replay {
		for _, r := range recs {
			assert.Equal(t, evolved.id, r.id, "key %s", k)
		}
	}
	r7 := replay["7"][0]
	assert.Equal(t, "Before the ALTER", r7.values["city"])
	assert.NotNil(t, r7.values["phone"], "customer 7's phone, which the event from before the DROP has")
	assert.Nil(t, r7.values["loyalty_tier"], "a column the event predates")
	r1 := replay["1"]
	require.Len(t, r1, 2)
	assert.Equal(t, "gold", r1[0].values["loyalty_tier"])
	assert.NotNil(t, r1[0].values["phone"])
	assert.Equal(t, "After the DROP", r1[1].values["city"])
	assert.Nil(t, r1[1].values["loyalty_tier"])
	assert.Nil(t, r1[1].values["phone"])
	assert.Equal(t, "silver", replay["1001"][0].values["loyalty_tier"])
}

func parseFields(t testing.TB, schema string) []string {
	s, err := tavro.Parse(schema)
	require.NoError(t, err)
	var out []string
	for _, f := range s.Root().Fields {
		out = append(out, f.Name)
	}
	return out
}

func fieldJSON(t testing.TB, schema, name string) json.RawMessage {
	var rec struct {
		Fields []json.RawMessage `json:"fields"`
	}
	require.NoError(t, json.Unmarshal([]byte(schema), &rec))
	for _, raw := range rec.Fields {
		var f struct {
			Name string `json:"name"`
		}
		require.NoError(t, json.Unmarshal(raw, &f))
		if f.Name == name {
			return raw
		}
	}
	t.Fatalf("no field %s in %s", name, schema)
	return nil
}

// runUntilStopped runs a source (no restart loop) until it returns, after
// the snapshot; the returned func waits for its error.
func (f *fixture) runUntilStopped(opts cdc.Options) func(timeout time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	src, err := cdc.New(ctx, opts, f.cl, f.reg)
	require.NoError(f.t, err)
	f.t.Cleanup(func() { src.Close() })
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	f.await(time.Minute)
	return func(timeout time.Duration) error {
		select {
		case err := <-done:
			return err
		case <-time.After(timeout):
			f.t.Fatalf("the source did not stop within %v", timeout)
			return nil
		}
	}
}

// TestSchemaChangesThatStopTheSource: what no compatible version can carry
// stops the source with a permanent error naming the table and the column,
// and nothing of it reaches the topic; the way out the message names works.
func TestSchemaChangesThatStopTheSource(t *testing.T) {
	cases := []struct {
		name  string
		mode  string
		stmts []string
		key   string // its latest record must still be the snapshot's
		want  []string
		// recover, when set, is the way out: these statements, then a
		// source with --schema.evolution=evolve (after --reset.offsets
		// when reset) catches up.
		recover []string
		reset   bool
	}{
		{"unknown column under fail", cdc.FailOnUnknownColumn,
			[]string{"ALTER TABLE customers ADD COLUMN loyalty_tier VARCHAR(16) NULL", "UPDATE customers SET loyalty_tier = 'gold' WHERE id = 1"},
			"1", []string{".customers has column loyalty_tier VARCHAR", "--schema.evolution=fail"}, []string{}, false},
		{"column type change", cdc.EvolveSchema,
			[]string{"ALTER TABLE products MODIFY price DECIMAL(12,3) NOT NULL", "UPDATE products SET price = 1.5 WHERE id = 1"},
			"1", []string{".products: column price is now DECIMAL(12,3)", `field "price"`, "decimal(10,2)", "--reset.offsets"},
			[]string{"ALTER TABLE products MODIFY price DECIMAL(10,2) NOT NULL"}, true},
		{"type change of an added column", cdc.EvolveSchema,
			[]string{"ALTER TABLE customers ADD COLUMN tier VARCHAR(16) NULL", "UPDATE customers SET tier = 'gold' WHERE id = 2",
				"UPDATE customers SET tier = NULL WHERE id = 2", "ALTER TABLE customers MODIFY tier INT NULL", "UPDATE customers SET tier = 3 WHERE id = 1"},
			"", []string{".customers: column tier is now INT (Avro int)", `field "tier"`, "is string"},
			[]string{"ALTER TABLE customers MODIFY tier VARCHAR(16) NULL"}, true},
		{"required column dropped", cdc.EvolveSchema,
			[]string{"ALTER TABLE customers DROP COLUMN email", "UPDATE customers SET city = 'x' WHERE id = 1"},
			"1", []string{".customers: column email is gone", `field "email"`, "has no default", "--reset.offsets"},
			[]string{"ALTER TABLE customers ADD COLUMN email VARCHAR(255) NOT NULL DEFAULT ''"}, true},
		{"unmapped type", cdc.EvolveSchema,
			[]string{"ALTER TABLE customers ADD COLUMN opens TIME NULL", "UPDATE customers SET city = 'x' WHERE id = 1"},
			"1", []string{".customers: new column opens has type TIME"},
			[]string{"ALTER TABLE customers DROP COLUMN opens"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := evolutionFixture(t)
			opts := f.opts
			opts.SchemaEvolution = tc.mode
			wait := f.runUntilStopped(opts)
			topic := map[bool]string{true: f.opts.Tables[1].Topic, false: f.opts.Tables[0].Topic}[strings.Contains(tc.stmts[0], "products")]
			before, _ := f.latest(topic)
			f.exec(tc.stmts...)
			err := wait(time.Minute)
			var p *run.Permanent
			require.True(t, errors.As(err, &p), "a permanent error (the service stops), got %v", err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Contains(t, err.Error(), f.db, "names the table")
			if tc.key != "" {
				after, _ := f.latest(topic)
				assert.Equal(t, before[tc.key], after[tc.key], "nothing of the change reached the topic")
			}
			if tc.recover == nil {
				return
			}
			f.exec(tc.recover...)
			if tc.reset {
				src, err := cdc.New(context.Background(), f.opts, f.cl, f.reg)
				require.NoError(t, err)
				require.NoError(t, src.ResetOffset(context.Background()))
				src.Close()
			}
			stop := f.run(f.opts)
			f.await(time.Minute)
			require.NoError(t, stop())
		})
	}
}

// TestRegistryRefusingTheEvolvedSchemaStopsTheSource: a 409 from the
// registry is permanent, named with the table and the column.
func TestRegistryRefusingTheEvolvedSchemaStopsTheSource(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	f.use(frozenRegistry(t))
	wait := f.runUntilStopped(f.opts)
	f.exec("ALTER TABLE customers ADD COLUMN loyalty_tier VARCHAR(16) NULL", "UPDATE customers SET loyalty_tier = 'gold' WHERE id = 1")
	err := wait(time.Minute)
	var p *run.Permanent
	require.True(t, errors.As(err, &p), "a permanent error, got %v", err)
	assert.Contains(t, err.Error(), f.db+".customers: new column loyalty_tier")
	assert.Contains(t, err.Error(), "refuses the evolved schema")
	assert.Contains(t, err.Error(), "409")
}

// TestNewColumnTypes: the types a new column can have become the Avro types
// Debezium's Connect types become under the Avro converter, read the same
// from the binlog and from a snapshot.
func TestNewColumnTypes(t *testing.T) {
	f, reg := evolutionFixture(t)
	customers := f.opts.Tables[0].Topic
	stop := f.run(f.opts)
	f.await(time.Minute)
	f.exec("ALTER TABLE customers ADD COLUMN ti TINYINT NULL, ADD COLUMN sm SMALLINT UNSIGNED NULL, ADD COLUMN i INT NULL, ADD COLUMN iu INT UNSIGNED NULL, "+
		"ADD COLUMN bi BIGINT NULL, ADD COLUMN fl FLOAT NULL, ADD COLUMN db DOUBLE NULL, ADD COLUMN dec3 DECIMAL(5,3) NULL, ADD COLUMN ch CHAR(3) NULL, "+
		"ADD COLUMN tx TEXT NULL, ADD COLUMN bl BLOB NULL, ADD COLUMN vb VARBINARY(8) NULL, ADD COLUMN js JSON NULL, ADD COLUMN en ENUM('a','b') NULL, "+
		"ADD COLUMN st SET('x','y','z') NULL, ADD COLUMN dt DATETIME(3) NULL, ADD COLUMN d DATE NULL, ADD COLUMN ts TIMESTAMP(3) NULL, ADD COLUMN yr YEAR NULL",
		"UPDATE customers SET ti = -4, sm = 65535, i = -2000000000, iu = 4000000000, bi = -9000000000000000000, fl = 1.5, db = 2.25, dec3 = 12.345, ch = 'abc', "+
			"tx = 'text ✓', bl = 'blob', vb = 'vb', js = '{\"a\": 1}', en = 'b', st = 'x,z', dt = '2026-01-02 03:04:05.678', d = '2026-01-02', "+
			"ts = '2026-01-02 03:04:05.678', yr = 2026 WHERE id = 1")
	want := map[string]any{
		"ti": int32(-4), "sm": int32(65535), "i": int32(-2000000000), "iu": int64(4000000000), "bi": int64(-9000000000000000000),
		"fl": float32(1.5), "db": 2.25, "dec3": "12.345", "ch": "abc", "tx": "text ✓", "bl": []byte("blob"), "vb": []byte("vb"),
		"js": `{"a": 1}`, "en": "b", "st": "x,z", "dt": time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC), "d": time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		"ts": "2026-01-02T03:04:05.678Z", "yr": int32(2026),
	}
	check := func(what string, value []byte) {
		d := reg.decode(t, value)
		for k, w := range want {
			got := d.values[k]
			if r, ok := got.(interface{ FloatString(int) string }); ok {
				got = r.FloatString(3)
			}
			assert.Equal(t, w, got, "%s: column %s", what, k)
		}
	}
	check("binlog", f.awaitLatest(customers, "1", "the update of the new columns", func(v []byte) bool {
		return v != nil && reg.decode(t, v).values["yr"] != nil
	}))
	require.NoError(t, stop())

	// The same row from a snapshot (a new source of the same topics).
	_, before := f.latest(customers)
	seen := map[[2]int64]bool{}
	for _, r := range before {
		seen[[2]int64{int64(r.Partition), r.Offset}] = true
	}
	opts := f.opts
	opts.Name += "-again"
	stop = f.run(opts)
	defer func() { require.NoError(t, stop()) }()
	deadline := time.Now().Add(time.Minute)
	for {
		_, all := f.latest(customers)
		var last []byte
		for _, r := range all {
			if string(r.Key) == "1" && !seen[[2]int64{int64(r.Partition), r.Offset}] {
				last = r.Value
			}
		}
		if last != nil {
			check("snapshot", last)
			break
		}
		require.True(t, time.Now().Before(deadline), "no snapshot record of customer 1")
		time.Sleep(100 * time.Millisecond) // polling interval of a condition
	}
	assert.Len(t, reg.versions(t, codecs.ValueSubject(customers)), 2, "the snapshot's columns are the schema's: no version more")
}

// TestSubjectTheSchemaCannotJoinStopsTheSource: a subject whose latest
// version the table's schema cannot read (registered by someone else) is
// refused by the registry at start, and that is permanent.
func TestSubjectTheSchemaCannotJoinStopsTheSource(t *testing.T) {
	f, reg := evolutionFixture(t)
	other := strings.Replace(avro.CustomerSchema, `{"name": "phone", "type": ["null", "string"], "default": null}`, `{"name": "phone", "type": "long"}`, 1)
	require.NotEqual(t, avro.CustomerSchema, other)
	_, err := reg.client.RegisterSchema(context.Background(), codecs.ValueSubject(f.opts.Tables[0].Topic), sr.Schema{Schema: other}, -1, -1)
	require.NoError(t, err)
	_, err = cdc.New(context.Background(), f.opts, f.cl, f.reg)
	var p *run.Permanent
	require.True(t, errors.As(err, &p), "a permanent error, got %v", err)
	assert.Contains(t, err.Error(), "409")
}
