package connectors_test

// The Kafka Connect configurations of connectors/connect, run as shipped in a
// real Kafka Connect worker (scripts/connect.sh: Apache Kafka Connect 4.1.1,
// Debezium 3.5.0.Final, mongo-kafka-connect 2.0.1) against the test MariaDB
// and an embedded FerretDB, registered by deploy/connect-init.sh and kept
// running by deploy/connect-watchdog.sh.
//
// What a run may change in a shipped file is listed in substitutions below
// and checked: hosts, ports and credentials; names made unique per run
// (connector, topics, database, binlog client id), so that runs on one worker
// and broker do not meet; the value converter (JsonConverter with schemas
// for Confluent's AvroConverter, which is not on Maven Central); and, for
// FerretDB only, a Cast of total_amount to a string (FerretDB v1 cannot
// store the Decimal128 the MongoDB connector writes). connectors/README.md,
// "Verification", says what that leaves unverified.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/orderstream/pipeline/connectors/cdc"
	"github.com/orderstream/pipeline/dev/mongoserver"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/murmur2"
	"github.com/orderstream/pipeline/kit/topics"
)

// The plugin versions the worker must report: scripts/connect.sh (which
// docker-compose's connect-plugins runs too), its pom and connectors/README.md
// name the same.
const (
	debeziumVersion       = "3.5.0.Final"
	mongoConnectorVersion = "2.0.1"
	jsonConverter         = "org.apache.kafka.connect.json.JsonConverter"
)

// substitutions: the settings a run may change in a shipped configuration,
// and why. Anything else must reach the worker as shipped.
var substitutions = map[string]string{
	"name":                  "unique per run",
	"topic.prefix":          "unique per run",
	"database.server.id":    "unique per run (a binlog client id)",
	"database.hostname":     "host",
	"database.port":         "port",
	"database.user":         "credential",
	"database.password":     "credential",
	"database.include.list": "the run's copy of the shop database",
	"table.include.list":    "the run's copy of the shop database",
	"schema.history.internal.kafka.bootstrap.servers": "host",
	"schema.history.internal.kafka.topic":             "unique per run",
	"transforms.route.regex":                          "the run's topic.prefix and database",
	"transforms.route.replacement":                    "unique per run (the topic)",
	"value.converter":                                 "JsonConverter for AvroConverter",
	"value.converter.schema.registry.url":             "AvroConverter's, gone with it",
	"value.converter.schemas.enable":                  "JsonConverter with schemas",
	"topics":                                          "unique per run",
	"connection.uri":                                  "host, port (and credentials)",
	"database":                                        "unique per run",
	"errors.deadletterqueue.topic.name":               "unique per run",
	"transforms":                                      "FerretDB only: + ferretdbDecimal",
	"transforms.ferretdbDecimal.type":                 "FerretDB only: Cast$Value",
	"transforms.ferretdbDecimal.spec":                 "FerretDB only: total_amount to a string",
}

// render returns f's config with set applied and del removed, after
// checking that only substitutions change.
func render(t *testing.T, f connectorFile, set map[string]string, del ...string) map[string]string {
	t.Helper()
	out := maps.Clone(f.config)
	for _, k := range del {
		delete(out, k)
	}
	for k, v := range set {
		out[k] = v
	}
	keys := map[string]bool{}
	for k := range f.config {
		keys[k] = true
	}
	for k := range out {
		keys[k] = true
	}
	for k := range keys {
		if f.config[k] == out[k] {
			continue
		}
		_, ok := substitutions[k]
		require.True(t, ok, "%s: the test changes %q (%q -> %q), which is not one of the substitutions the README names", f.path, k, f.config[k], out[k])
	}
	return out
}

// javaRegexQuote quotes s for a java.util.regex pattern as the shipped
// routers write it (dots escaped; the names have no other metacharacters).
func javaRegexQuote(s string) string { return strings.ReplaceAll(s, ".", `\.`) }

func TestKafkaConnectWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Kafka, Kafka Connect and MariaDB")
	}
	brokers := testkit.RealKafka(t)
	rootDSN := testkit.MySQL(t)
	w := testkit.KafkaConnect(t, brokers)

	t.Run("plugins", func(t *testing.T) {
		want := map[string]string{
			"io.debezium.connector.mariadb.MariaDbConnector": debeziumVersion,
			"io.debezium.connector.mysql.MySqlConnector":     debeziumVersion,
			"com.mongodb.kafka.connect.MongoSinkConnector":   mongoConnectorVersion,
		}
		got := map[string]string{}
		for _, p := range w.Plugins() {
			got[p.Class] = p.Version
		}
		for class, v := range want {
			assert.Equal(t, v, got[class], "%s", class)
		}
	})
	t.Run("mariadb-sources", func(t *testing.T) { testSources(t, w, brokers, rootDSN) })
	t.Run("mongodb-sink", func(t *testing.T) { testSink(t, w, brokers) })
}

// --- shell scripts of deploy/ ------------------------------------------------

// script runs a deploy/ script with env; Wait returns its exit code.
type script struct {
	cmd  *exec.Cmd
	out  *testkit.Output
	done chan struct{}
	code int
}

func startScript(t *testing.T, name string, env ...string) *script {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("curl is not installed (deploy/%s needs it)", name)
		}
		t.Skipf("curl is not installed (deploy/%s needs it)", name)
	}
	path, err := filepath.Abs(filepath.Join("..", "deploy", name))
	require.NoError(t, err)
	s := &script{cmd: exec.Command("sh", path), out: &testkit.Output{}, done: make(chan struct{})}
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	require.NoError(t, s.cmd.Start())
	go func() {
		_ = s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
	})
	return s
}

func (s *script) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(timeout):
		t.Fatalf("%v did not finish in %v:\n%s", s.cmd.Args, timeout, s.out)
		return -1
	}
}

// writeConnectorFiles writes configs as {"name","config"} files into a new
// directory, for connect-init.sh.
func writeConnectorFiles(t *testing.T, configs ...map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range configs {
		b, err := json.MarshalIndent(map[string]any{"name": c["name"], "config": c}, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, c["name"]+".json"), b, 0o644))
	}
	return dir
}

// --- the Debezium MariaDB sources ----------------------------------------------

// cdcRecord is a record of a CDC topic reduced to what two CDC sources must
// agree on. Fields are normalised so that records of different converters
// compare: integers int64, strings string, NULL nil, decimals the exact
// decimal string with the schema's scale ("19.90"), timestamps milliseconds
// since the epoch (int64, UTC).
type cdcRecord struct {
	Partition  int32
	Offset     int64
	Key        string
	Tombstone  bool // a null Kafka value: what compaction and Goka's tables delete on
	SchemaName string
	Fields     map[string]any
	Types      map[string]string // field -> Connect type, or its logical name (with the scale for decimals)
	Headers    map[string]string
	Raw        []byte
}

// decodeFunc decodes a non-null value. decodeConnectJSON is Kafka's
// JsonConverter with schemas; a comparison with our cdc-source adds one for
// its Avro.
type decodeFunc func(value []byte) (schemaName string, fields map[string]any, types map[string]string, err error)

// readCDCTopic reads topic to its end (what it has read when it fails).
func readCDCTopic(cl *kgo.Client, topic string, decode decodeFunc) ([]cdcRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []cdcRecord
	err := topics.ReadToEnd(ctx, cl, topic, func(r *kgo.Record) error {
		rec := cdcRecord{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Tombstone: r.Value == nil, Headers: map[string]string{}, Raw: r.Value}
		for _, h := range r.Headers {
			rec.Headers[h.Key] = string(h.Value)
		}
		if r.Value != nil {
			var err error
			if rec.SchemaName, rec.Fields, rec.Types, err = decode(r.Value); err != nil {
				return fmt.Errorf("%s partition %d offset %d: %w", topic, r.Partition, r.Offset, err)
			}
		}
		out = append(out, rec)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, err
}

// latest is the last record of each key (records of one key share a
// partition, so the offset order is theirs).
func latest(recs []cdcRecord) map[string]cdcRecord {
	out := map[string]cdcRecord{}
	for _, r := range recs {
		out[r.Key] = r
	}
	return out
}

type connectSchema struct {
	Type       string            `json:"type"`
	Name       string            `json:"name"`
	Optional   bool              `json:"optional"`
	Field      string            `json:"field"`
	Parameters map[string]string `json:"parameters"`
	Fields     []connectSchema   `json:"fields"`
}

// decodeConnectJSON decodes a JsonConverter (schemas.enable=true) struct.
func decodeConnectJSON(value []byte) (string, map[string]any, map[string]string, error) {
	var env struct {
		Schema  *connectSchema             `json:"schema"`
		Payload map[string]json.RawMessage `json:"payload"`
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		return "", nil, nil, fmt.Errorf("not JsonConverter JSON with a schema: %w", err)
	}
	if env.Schema == nil || env.Schema.Type != "struct" {
		return "", nil, nil, fmt.Errorf("value schema is not a struct: %s", value)
	}
	if env.Payload == nil {
		return env.Schema.Name, nil, nil, fmt.Errorf("a schema with a null payload (JsonConverter's form of a null value that keeps its schema; not a Kafka tombstone)")
	}
	fields, types := map[string]any{}, map[string]string{}
	for _, f := range env.Schema.Fields {
		raw, ok := env.Payload[f.Field]
		if !ok {
			return "", nil, nil, fmt.Errorf("field %s of the schema is not in the payload", f.Field)
		}
		types[f.Field] = f.Type
		if f.Name != "" {
			types[f.Field] = f.Name
		}
		if f.Name == "org.apache.kafka.connect.data.Decimal" {
			types[f.Field] += "(scale " + f.Parameters["scale"] + ")"
		}
		v, err := connectJSONValue(f, raw)
		if err != nil {
			return "", nil, nil, fmt.Errorf("field %s: %w", f.Field, err)
		}
		fields[f.Field] = v
	}
	return env.Schema.Name, fields, types, nil
}

func connectJSONValue(s connectSchema, raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	switch s.Name {
	case "org.apache.kafka.connect.data.Decimal":
		var b64 string
		if err := json.Unmarshal(raw, &b64); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, err
		}
		scale, err := strconv.Atoi(s.Parameters["scale"])
		if err != nil {
			return nil, fmt.Errorf("decimal scale %q", s.Parameters["scale"])
		}
		unscaled := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 { // two's complement
			unscaled.Sub(unscaled, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		return new(big.Rat).SetFrac(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)).FloatString(scale), nil
	}
	switch s.Type {
	case "int8", "int16", "int32", "int64":
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, err
		}
		return n.Int64()
	case "string":
		var v string
		err := json.Unmarshal(raw, &v)
		return v, err
	case "boolean":
		var v bool
		err := json.Unmarshal(raw, &v)
		return v, err
	default:
		return nil, fmt.Errorf("type %s not handled by the test", s.Type)
	}
}

// shopCopy is a private copy of the shop database (testkit.ShopCopy) with
// the CDC user's SELECT on it, as users.sql grants it on shop.
func shopCopy(t *testing.T, rootDSN, name string) *sql.DB {
	t.Helper()
	db, _ := testkit.ShopCopy(t, rootDSN, name)
	_, err := db.Exec("GRANT SELECT ON " + name + ".* TO 'orderstream'@'%', 'orderstream'@'localhost', 'orderstream'@'127.0.0.1'")
	require.NoError(t, err)
	return db
}

// cdcUser is the CDC user of database/users.sql (MYSQL_DSN names it).
func cdcUser(t *testing.T) (user, password string) {
	if dsn := os.Getenv("MYSQL_DSN"); dsn != "" {
		cfg, err := mysql.ParseDSN(dsn)
		require.NoError(t, err)
		return cfg.User, cfg.Passwd
	}
	return "orderstream", "orderstream"
}

// rows reads a table as the records should carry it: id -> normalised
// fields, credit card masked.
func rows(t *testing.T, db *sql.DB, table string) map[string]map[string]any {
	t.Helper()
	r, err := db.Query("SELECT * FROM " + table)
	require.NoError(t, err)
	defer r.Close()
	cols, err := r.Columns()
	require.NoError(t, err)
	types, err := r.ColumnTypes()
	require.NoError(t, err)
	out := map[string]map[string]any{}
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, r.Scan(ptrs...))
		row := map[string]any{}
		for i, c := range cols {
			switch v := vals[i].(type) {
			case nil:
				row[c] = nil
			case int64:
				row[c] = v
			case time.Time:
				row[c] = v.UnixMilli()
			case []byte:
				row[c] = string(v)
				if types[i].DatabaseTypeName() == "BIGINT" {
					n, err := strconv.ParseInt(string(v), 10, 64)
					require.NoError(t, err)
					row[c] = n
				}
			default:
				row[c] = v
			}
		}
		if _, ok := row["credit_card"]; ok && row["credit_card"] != nil {
			row["credit_card"] = cdc.DefaultMaskReplacement
		}
		out[strconv.FormatInt(row["id"].(int64), 10)] = row
	}
	require.NoError(t, r.Err())
	return out
}

// cardNumbers are the raw card numbers of dml.sql.
func cardNumbers(t *testing.T) []string {
	b, err := os.ReadFile("../database/dml.sql")
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`'(\d{13,19})'`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	require.NotEmpty(t, out)
	return out
}

func testSources(t *testing.T, w *testkit.Connect, brokers []string, rootDSN string) {
	run := strings.ReplaceAll(testkit.Unique("dbz"), "-", "_")
	db := shopCopy(t, rootDSN, run)
	user, password := cdcUser(t)
	cfg, err := mysql.ParseDSN(rootDSN)
	require.NoError(t, err)
	host, port, ok := strings.Cut(cfg.Addr, ":")
	require.True(t, ok, "MYSQL_ROOT_DSN address %q", cfg.Addr)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)

	type source struct {
		table, topic, schema string
		fields               []string
		config               map[string]string
		ours                 string // our cdc-source's topic of the table
	}
	var sources []*source
	serverID := 190000 + rand.IntN(9000)*10
	for i, tbl := range cdc.DefaultTables {
		f := loadFile(t, filepath.Join("connect", "mariadb", "mariadb-cdc-"+tbl.Name+".json"))
		require.Equal(t, "io.debezium.connector.mariadb.MariaDbConnector", f.config["connector.class"], f.path)
		prefix := f.config["topic.prefix"] + "-" + run
		topic := tbl.Topic + "-" + run
		require.Equal(t, "^"+javaRegexQuote(f.config["topic.prefix"]+"."+tbl.Database+"."+tbl.Name)+"$", f.config["transforms.route.regex"], "%s: the router's regex", f.path)
		rec := parseAvro(t, tbl.Schema)
		s := &source{table: tbl.Name, topic: topic, schema: rec.fullName, fields: rec.fields}
		s.config = render(t, f, map[string]string{
			"name":                  f.name + "-" + run,
			"topic.prefix":          prefix,
			"database.server.id":    strconv.Itoa(serverID + i),
			"database.hostname":     host,
			"database.port":         port,
			"database.user":         user,
			"database.password":     password,
			"database.include.list": run,
			"table.include.list":    run + "." + tbl.Name,
			"schema.history.internal.kafka.bootstrap.servers": strings.Join(brokers, ","),
			"schema.history.internal.kafka.topic":             f.config["schema.history.internal.kafka.topic"] + "-" + run,
			"transforms.route.regex":                          "^" + javaRegexQuote(prefix+"."+run+"."+tbl.Name) + "$",
			"transforms.route.replacement":                    topic,
			"value.converter":                                 jsonConverter,
			"value.converter.schemas.enable":                  "true",
		}, "value.converter.schema.registry.url")
		sources = append(sources, s)
		t.Cleanup(func() {
			w.Delete(s.config["name"])
			_, _ = adm.DeleteTopics(context.Background(), s.topic, s.config["schema.history.internal.kafka.topic"])
		})
	}

	// Our cdc-source on the same database and changes, to its own topics.
	topicOf := map[string]string{}
	for _, s := range sources {
		topicOf[s.table] = s.topic
	}
	ours := startGoSource(t, brokers, run, cfg.Addr, user, password, topicOf)
	for _, s := range sources {
		s.ours = ours.topics[s.table]
	}

	// What the worker says of the configurations, then connect-init.sh
	// registers them as it does in docker-compose.
	for _, s := range sources {
		assert.Empty(t, w.Validate(s.config), "%s: validation errors", s.config["name"])
	}
	dir := writeConnectorFiles(t, sources[0].config, sources[1].config)
	initRun := startScript(t, "connect-init.sh", "CONNECT_URL="+w.URL, "CONNECTORS_DIR="+dir, "ATTEMPTS=10", "DELAY=1")
	require.Equal(t, 0, initRun.wait(t, 2*time.Minute), "connect-init.sh:\n%s", initRun.out)
	for _, s := range sources {
		assert.Contains(t, initRun.out.String(), s.config["name"]+": created")
		w.AwaitRunning(s.config["name"], 2*time.Minute)
	}

	// The snapshot, then changes of every kind: Debezium's topics and ours
	// end equal to the tables; ok, when given, says more must hold.
	await := func(what string, timeout time.Duration, ok ...func(dbz, ours map[string][]cdcRecord) string) (dbz, mine map[string][]cdcRecord) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			got, gotOurs := map[string][]cdcRecord{}, map[string][]cdcRecord{}
			var diffs []string
			for _, s := range sources {
				want := rows(t, db, s.table)
				recs, err := readCDCTopic(cl, s.topic, decodeConnectJSON)
				got[s.table] = recs
				if err != nil {
					diffs = append(diffs, s.table+": "+err.Error())
				} else if d := stateDiff(latest(recs), want, s.fields); d != "" {
					diffs = append(diffs, s.table+": "+d)
				}
				recs, err = readCDCTopic(cl, s.ours, ours.decode)
				gotOurs[s.table] = recs
				if err != nil {
					diffs = append(diffs, "ours, "+s.table+": "+err.Error())
				} else if d := stateDiff(latest(recs), want, s.fields); d != "" {
					diffs = append(diffs, "ours, "+s.table+": "+d)
				}
			}
			for _, f := range ok {
				if d := f(got, gotOurs); d != "" {
					diffs = append(diffs, d)
				}
			}
			if err := ours.err(); err != nil {
				t.Fatalf("%s: our cdc-source stopped: %v", what, err)
			}
			if len(diffs) == 0 {
				return got, gotOurs
			}
			if time.Now().After(deadline) {
				for _, s := range sources {
					t.Logf("%s: %v", s.config["name"], func() any { st, _ := w.Status(s.config["name"]); return st }())
				}
				t.Fatalf("%s: the topics do not hold the tables after %v:\n%s", what, timeout, strings.Join(diffs, "\n"))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t0 := time.Now()
	await("snapshot", 2*time.Minute)
	t.Logf("snapshot on the topics %v after the connectors started", time.Since(t0).Round(100*time.Millisecond))

	sqlExec := func(stmts ...string) {
		for _, s := range stmts {
			_, err := db.Exec(s)
			require.NoError(t, err, s)
		}
	}
	sqlExec(
		"INSERT INTO customers (id, first_name, last_name, email, phone, credit_card, city, country) VALUES (1001, 'Zoë', 'Nakamura 🌸', 'zoe.n@example.test', NULL, '4111111111111111', 'Zürich', 'CH')",
		"UPDATE customers SET credit_card = NULL, phone = '+41 44 555 01 01' WHERE id = 1001",
		"UPDATE customers SET city = 'Lisboa', credit_card = '5555555555554444' WHERE id = 3",
		"DELETE FROM customers WHERE id = 5",
		"UPDATE customers SET id = 2001 WHERE id = 12",
		"INSERT INTO products (id, name, category, price, description) VALUES (1001, 'Washer', 'hardware', 0.10, NULL)",
		"UPDATE products SET price = 12345678.90 WHERE id = 1",
		"DELETE FROM products WHERE id = 50",
	)
	got, gotOurs := await("inserts, updates, deletes and a primary-key change", time.Minute)

	cards := append(cardNumbers(t), "4111111111111111")
	for _, s := range sources {
		recs := got[s.table]
		t.Run(s.table, func(t *testing.T) {
			desc, err := adm.DescribeTopicConfigs(context.Background(), s.topic)
			require.NoError(t, err)
			rc, err := desc.On(s.topic, nil)
			require.NoError(t, err)
			policy := ""
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" {
					policy = c.MaybeValue()
				}
			}
			assert.Equal(t, "compact", policy, "topic.creation.default.cleanup.policy")
			td, err := adm.ListTopics(context.Background(), s.topic)
			require.NoError(t, err)
			partitions := int32(len(td[s.topic].Partitions))
			assert.EqualValues(t, 6, partitions, "topic.creation.default.partitions")

			tombstones := map[string]int{}
			for _, r := range recs {
				assert.Equal(t, murmur2.Partition([]byte(r.Key), partitions), r.Partition, "key %q: the partition is not murmur2's", r.Key)
				for h := range r.Headers {
					assert.False(t, strings.HasPrefix(h, "__debezium.context."), "key %q: header %s (extended.headers.enabled=false)", r.Key, h)
				}
				for _, c := range cards {
					assert.NotContains(t, string(r.Raw), c, "key %q: a raw card number reached Kafka", r.Key)
				}
				if r.Tombstone {
					tombstones[r.Key]++
					continue
				}
				assert.Equal(t, s.schema, r.SchemaName, "key %q", r.Key)
				assert.ElementsMatch(t, s.fields, slices.Collect(maps.Keys(r.Fields)), "key %q: the fields are not those of %s", r.Key, s.schema)
				assert.Equal(t, r.Key, strconv.FormatInt(r.Fields["id"].(int64), 10), "the key is the row's id, as StringConverter writes it")
				assert.Equal(t, "int64", r.Types["id"])
				assert.Equal(t, "org.apache.kafka.connect.data.Timestamp", r.Types["created_at"])
				assert.Equal(t, "org.apache.kafka.connect.data.Timestamp", r.Types["updated_at"])
				if s.table == "products" {
					assert.Equal(t, "org.apache.kafka.connect.data.Decimal(scale 2)", r.Types["price"])
				}
				if v, ok := r.Fields["credit_card"]; ok {
					assert.True(t, v == nil || v == cdc.DefaultMaskReplacement, "key %q: credit_card %v", r.Key, v)
				}
			}
			// Ours and Debezium's agree record by record.
			assert.Empty(t, historyDiff(recs, gotOurs[s.table]), "Debezium's records and our cdc-source's")

			want := map[string]map[string]int{"customers": {"5": 1, "12": 1}, "products": {"50": 1}}[s.table]
			assert.Equal(t, want, tombstones, "one tombstone (a null value) per deleted row, none otherwise")
			last := latest(recs)
			if s.table == "customers" {
				assert.Equal(t, map[string]string{"__debezium.newkey": `{"id":2001}`}, last["12"].Headers, "the tombstone of the old key of a primary-key change")
				assert.Equal(t, map[string]string{"__debezium.oldkey": `{"id":12}`}, last["2001"].Headers, "the record of the new key of a primary-key change")
				assert.Nil(t, last["1001"].Fields["credit_card"], "a NULL card stays NULL")
				assert.Equal(t, "Nakamura 🌸", last["1001"].Fields["last_name"])
			} else {
				assert.Equal(t, "12345678.90", last["1"].Fields["price"])
				assert.Equal(t, "0.10", last["1001"].Fields["price"])
			}
		})
	}

	// A column added to a table: Debezium carries it as a new optional
	// field, last, and so does ours (a new schema version).
	sqlExec("ALTER TABLE customers ADD COLUMN loyalty_tier VARCHAR(16) NULL", "UPDATE customers SET loyalty_tier = 'gold' WHERE id = 1")
	customer1 := func(field string, value any) func(dbz, o map[string][]cdcRecord) string {
		return func(dbz, o map[string][]cdcRecord) string {
			d, g := latest(dbz["customers"])["1"], latest(o["customers"])["1"]
			if d.Fields[field] != value || g.Fields[field] != value {
				return fmt.Sprintf("customer 1: %s is %v (Debezium), %v (ours), not yet %v", field, d.Fields[field], g.Fields[field], value)
			}
			return ""
		}
	}
	got, gotOurs = await("ALTER TABLE ADD COLUMN", time.Minute, customer1("loyalty_tier", "gold"))
	evolved := append(slices.Clone(sources[0].fields), "loyalty_tier")
	d, g := latest(got["customers"])["1"], latest(gotOurs["customers"])["1"]
	assert.Equal(t, evolved, fieldOrder(t, d.Raw), "Debezium: the new column is a new last field")
	assert.Equal(t, evolved, ours.order(t, g.Raw), "ours: the new column is a new last field")
	assert.Equal(t, "string", d.Types["loyalty_tier"])
	assert.Empty(t, historyDiff(got["customers"], gotOurs["customers"]), "Debezium's records and ours, after ALTER TABLE ADD COLUMN")
	assert.Empty(t, historyDiff(got["products"], gotOurs["products"]))

	// A dropped column: Debezium's next record has no such field (its next
	// schema version drops it); ours keeps the field, null, which is what a
	// reader of Debezium's records with the previous version reads for it
	// (an optional field's default).
	sqlExec("ALTER TABLE customers DROP COLUMN loyalty_tier", "UPDATE customers SET city = 'Porto' WHERE id = 1")
	got, gotOurs = await("ALTER TABLE DROP COLUMN", time.Minute, customer1("city", "Porto"))
	d, g = latest(got["customers"])["1"], latest(gotOurs["customers"])["1"]
	assert.Equal(t, sources[0].fields, fieldOrder(t, d.Raw), "Debezium: the field is gone")
	assert.Equal(t, evolved, ours.order(t, g.Raw), "ours: the field stays")
	assert.Contains(t, g.Fields, "loyalty_tier")
	assert.Nil(t, g.Fields["loyalty_tier"])
	assert.Empty(t, historyDiff(got["customers"], gotOurs["customers"], "loyalty_tier"), "Debezium's records and ours but the dropped column, after ALTER TABLE DROP COLUMN")

	// connect-init.sh against the real worker: a configuration the worker
	// rejects is reported setting by setting, at once.
	bad := maps.Clone(sources[0].config)
	bad["name"] += "-bad"
	bad["database.password"] = "not-the-password"
	errs := w.Validate(bad)
	require.NotEmpty(t, errs, "a wrong password must not validate")
	badRun := startScript(t, "connect-init.sh", "CONNECT_URL="+w.URL, "CONNECTORS_DIR="+writeConnectorFiles(t, bad), "ATTEMPTS=10", "DELAY=5")
	assert.Equal(t, 1, badRun.wait(t, 30*time.Second), "connect-init.sh:\n%s", badRun.out)
	assert.Contains(t, badRun.out.String(), "Access denied")
	assert.Contains(t, badRun.out.String(), bad["name"]+": the worker rejects the configuration")
	_, known := w.Status(bad["name"])
	assert.False(t, known, "a configuration that fails validation must not be registered")
}

// fieldOrder is the order of the fields in a JsonConverter value's schema.
func fieldOrder(t *testing.T, value []byte) []string {
	var env struct {
		Schema connectSchema `json:"schema"`
	}
	require.NoError(t, json.Unmarshal(value, &env))
	var out []string
	for _, f := range env.Schema.Fields {
		out = append(out, f.Field)
	}
	return out
}

// stateDiff compares the latest record per key with the table's rows ("" when
// they agree): a live row has a record with its fields (those of the schema),
// a deleted one a tombstone (or no record).
func stateDiff(got map[string]cdcRecord, want map[string]map[string]any, fields []string) string {
	var d []string
	for k, row := range want {
		r, ok := got[k]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("key %s: no record", k))
		case r.Tombstone:
			d = append(d, fmt.Sprintf("key %s: a tombstone, the row exists", k))
		default:
			for _, f := range fields {
				if fmt.Sprint(r.Fields[f]) != fmt.Sprint(row[f]) || (r.Fields[f] == nil) != (row[f] == nil) {
					d = append(d, fmt.Sprintf("key %s: %s = %#v, the row has %#v", k, f, r.Fields[f], row[f]))
				}
			}
		}
	}
	for k, r := range got {
		if _, ok := want[k]; !ok && !r.Tombstone {
			d = append(d, fmt.Sprintf("key %s: a record, but no row", k))
		}
	}
	sort.Strings(d)
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("... %d more", len(d)-10))
	}
	return strings.Join(d, "\n")
}

// --- the MongoDB sink ----------------------------------------------------------

// customerTotalSchema is avro/customer_total.avsc as Connect sees it after
// the AvroConverter (decimal(18,2), timestamp-millis, uuid as string).
const customerTotalSchema = `{"type":"struct","name":"io.orderstream.CustomerTotal","optional":false,"fields":[` +
	`{"field":"customer_id","type":"int64","optional":false},` +
	`{"field":"customer_name","type":"string","optional":false},` +
	`{"field":"customer_email","type":"string","optional":true},` +
	`{"field":"order_count","type":"int64","optional":false},` +
	`{"field":"total_amount","type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"18"}},` +
	`{"field":"last_order_id","type":"string","optional":true},` +
	`{"field":"last_order_at","type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1},` +
	`{"field":"updated_at","type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1}]}`

type total struct {
	id     int64
	name   string
	email  *string
	orders int64
	cents  int64
	lastID *string
	lastAt *int64
	at     int64
}

func (tt total) value() []byte {
	unscaled := big.NewInt(tt.cents).Bytes()
	if len(unscaled) == 0 || unscaled[0]&0x80 != 0 {
		unscaled = append([]byte{0}, unscaled...) // two's complement, positive
	}
	payload := map[string]any{
		"customer_id": tt.id, "customer_name": tt.name, "customer_email": tt.email, "order_count": tt.orders,
		"total_amount": base64.StdEncoding.EncodeToString(unscaled), "last_order_id": tt.lastID, "last_order_at": tt.lastAt,
		"updated_at": tt.at,
	}
	p, _ := json.Marshal(payload)
	return []byte(`{"schema":` + customerTotalSchema + `,"payload":` + string(p) + `}`)
}

// document is what the connector must write for tt, with the FerretDB Cast
// of total_amount to its exact decimal string.
func (tt total) document() bson.M {
	doc := bson.M{
		"_id": strconv.FormatInt(tt.id, 10), "customer_id": tt.id, "customer_name": tt.name, "customer_email": nil,
		"order_count": tt.orders, "total_amount": new(big.Rat).SetFrac64(tt.cents, 100).FloatString(2),
		"last_order_id": nil, "last_order_at": nil, "updated_at": bson.NewDateTimeFromTime(time.UnixMilli(tt.at).UTC()),
	}
	if tt.email != nil {
		doc["customer_email"] = *tt.email
	}
	if tt.lastID != nil {
		doc["last_order_id"] = *tt.lastID
	}
	if tt.lastAt != nil {
		doc["last_order_at"] = bson.NewDateTimeFromTime(time.UnixMilli(*tt.lastAt).UTC())
	}
	return doc
}

// canonical prints a document with its keys in order and each value's type.
func canonical(d bson.M) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(d)) {
		fmt.Fprintf(&b, "%s=%T(%v) ", k, d[k], d[k])
	}
	return b.String()
}

func testSink(t *testing.T, w *testkit.Connect, brokers []string) {
	run := strings.ReplaceAll(testkit.Unique("sink"), "-", "_")
	dataDir := t.TempDir()
	srv, err := mongoserver.Start(context.Background(), mongoserver.Options{Dir: dataDir, Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	addr, uri := srv.Addr(), srv.URI()

	f := loadFile(t, filepath.Join("connect", "mongodb-sink.json"))
	topic := f.config["topics"] + "-" + run
	cfg := render(t, f, map[string]string{
		"name":                              f.name + "-" + run,
		"topics":                            topic,
		"connection.uri":                    uri,
		"database":                          f.config["database"] + "_" + run,
		"errors.deadletterqueue.topic.name": f.config["errors.deadletterqueue.topic.name"] + "-" + run,
		"value.converter":                   jsonConverter,
		"value.converter.schemas.enable":    "true",
		// FerretDB only: it cannot store the Decimal128 the connector writes.
		"transforms":                      f.config["transforms"] + ",ferretdbDecimal",
		"transforms.ferretdbDecimal.type": "org.apache.kafka.connect.transforms.Cast$Value",
		"transforms.ferretdbDecimal.spec": "total_amount:string",
	}, "value.converter.schema.registry.url")
	dlq := cfg["errors.deadletterqueue.topic.name"]

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	_, err = adm.CreateTopic(context.Background(), 3, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
	require.NoError(t, err)
	t.Cleanup(func() {
		w.Delete(cfg["name"])
		_, _ = adm.DeleteTopics(context.Background(), topic, dlq)
	})

	mc, err := mongo.Connect(options.Client().ApplyURI(uri + "?serverSelectionTimeoutMS=2000"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	coll := mc.Database(cfg["database"]).Collection(cfg["collection"])

	assert.Empty(t, w.Validate(cfg), "validation errors")
	// The watchdog of docker-compose: registers the configuration
	// (connect-init.sh), then restarts what fails.
	watchdog := startScript(t, "connect-watchdog.sh", "CONNECT_URL="+w.URL, "CONNECTORS_DIR="+writeConnectorFiles(t, cfg),
		"ATTEMPTS=10", "DELAY=1", "INTERVAL=1", "BACKOFF_MIN=2", "BACKOFF_MAX=5", "STABLE=60", "HEARTBEAT_FILE="+filepath.Join(t.TempDir(), "alive"))
	w.AwaitRunning(cfg["name"], 2*time.Minute)
	require.Contains(t, watchdog.out.String(), cfg["name"]+": created")

	want := map[string]bson.M{}
	version := 0
	produce := func(ids []int64, tombstone bool) {
		t.Helper()
		version++
		var recs []*kgo.Record
		for _, id := range ids {
			key := strconv.FormatInt(id, 10)
			if tombstone {
				recs = append(recs, &kgo.Record{Key: []byte(key)})
				delete(want, key)
				continue
			}
			tt := total{id: id, name: fmt.Sprintf("Customer %d", id), orders: int64(version), cents: id*1000 + int64(version)*7 + 5, at: 1700000000000 + int64(version)}
			if id%3 == 0 {
				e, u, at := fmt.Sprintf("c%d@example.test", id), fmt.Sprintf("00000000-0000-4000-8000-%012d", id), int64(1700000000000+id)
				tt.email, tt.lastID, tt.lastAt = &e, &u, &at
			}
			recs = append(recs, &kgo.Record{Key: []byte(key), Value: tt.value()})
			want[key] = tt.document()
		}
		require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	}
	ids := func(from, to int64) []int64 {
		var out []int64
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	diff := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cur, err := coll.Find(ctx, bson.D{})
		if err != nil {
			return err.Error()
		}
		var docs []bson.M
		if err := cur.All(ctx, &docs); err != nil {
			return err.Error()
		}
		got := map[string]bson.M{}
		for _, d := range docs {
			got[fmt.Sprint(d["_id"])] = d
		}
		var out []string
		for k, wd := range want {
			if gd, ok := got[k]; !ok {
				out = append(out, "no document "+k)
			} else if canonical(gd) != canonical(wd) {
				out = append(out, fmt.Sprintf("document %s: %s, want %s", k, canonical(gd), canonical(wd)))
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				out = append(out, "document "+k+" should not exist")
			}
		}
		sort.Strings(out)
		if len(out) > 5 {
			out = append(out[:5], fmt.Sprintf("... %d more", len(out)-5))
		}
		return strings.Join(out, "\n")
	}
	awaitDocs := func(what string, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			d := diff()
			if d == "" {
				return
			}
			if time.Now().After(deadline) {
				st, _ := w.Status(cfg["name"])
				t.Fatalf("%s: the collection is not the topic's latest values after %v (%v):\n%s\nwatchdog:\n%s", what, timeout, st, d, watchdog.out)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	dlqRecords := func() []*kgo.Record {
		var out []*kgo.Record
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := topics.ReadToEnd(ctx, cl, dlq, func(r *kgo.Record) error { out = append(out, r); return nil }); err != nil {
			t.Logf("reading %s: %v", dlq, err)
		}
		return out
	}

	// One document per key, _id = the key, replaced on every record, deleted
	// on a tombstone; a record that does not decode goes to the dead letter
	// topic and the others are written.
	produce(ids(1, 30), false)
	require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("999"), Value: []byte("not JSON")}).FirstErr())
	produce(ids(1, 30), false)
	produce(ids(1, 4), true)
	awaitDocs("first records", 2*time.Minute)
	dead := dlqRecords()
	require.Len(t, dead, 1, "only the bad record is dead-lettered")
	assert.Equal(t, "999", string(dead[0].Key))
	headers := map[string]string{}
	for _, h := range dead[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	assert.Equal(t, "VALUE_CONVERTER", headers["__connect.errors.stage"])
	assert.Equal(t, topic, headers["__connect.errors.topic"])

	// MongoDB goes away while records keep coming: the task fails without
	// committing (mongo.errors.tolerance=data), nothing goes to the dead
	// letter topic, the watchdog restarts it until MongoDB is back, and then
	// every change arrives.
	down := time.Now()
	require.NoError(t, srv.Close())
	<-srv.Done()
	produce(ids(5, 30), false)
	produce(ids(5, 8), true)
	produce(ids(31, 40), false)
	st := w.AwaitStatus(cfg["name"], 2*time.Minute, "FAILED while MongoDB is down", testkit.ConnectorStatus.Failed)
	t.Logf("sink task failed %v after MongoDB went away: %v", time.Since(down).Round(100*time.Millisecond), st)
	// Down until the watchdog has restarted the task twice: the first
	// failure comes at once (the connection breaks), the restarted task
	// fails after the driver's server selection timeout (30 s).
	deadline := time.Now().Add(2 * time.Minute)
	for strings.Count(watchdog.out.String(), cfg["name"]+": restarted") < 2 {
		require.True(t, time.Now().Before(deadline), "the watchdog did not restart the failed task twice:\n%s", watchdog.out)
		time.Sleep(250 * time.Millisecond)
	}
	srv, err = mongoserver.Start(context.Background(), mongoserver.Options{Dir: dataDir, Addr: addr})
	require.NoError(t, err, "FerretDB again on the same directory and port")
	t.Cleanup(func() { _ = srv.Close() })
	t.Logf("MongoDB was down for %v", time.Since(down).Round(100*time.Millisecond))
	awaitDocs("after the outage", 3*time.Minute)
	w.AwaitRunning(cfg["name"], time.Minute)
	assert.Len(t, dlqRecords(), 1, "nothing was dead-lettered during the outage")
	t.Logf("watchdog:\n%s", watchdog.out)
}
