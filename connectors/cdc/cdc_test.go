package cdc_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/connectors/cdc"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/kit/topics"
)

// fixture is a private copy of the shop database (ddl.sql + dml.sql) and
// private topics, so runs on shared servers do not meet.
type fixture struct {
	t       testing.TB
	root    *sql.DB // root on the test database
	dsn     string  // root DSN of the test database
	db      string
	brokers []string
	url     string
	reg     *codecs.Registry
	opts    cdc.Options
	cl      *kgo.Client
}

func newFixture(t testing.TB, brokers []string) *fixture {
	t.Helper()
	rootDSN := testkit.MySQL(t)
	name := strings.ReplaceAll(testkit.Unique("cdc"), "-", "_")
	root, dsn := testkit.ShopCopy(t, rootDSN, name)

	url, reg := testkit.RegistryURL(t)
	f := &fixture{t: t, root: root, dsn: dsn, db: name, brokers: brokers, url: url, reg: reg}
	tables := append([]cdc.Table(nil), cdc.DefaultTables...)
	for i := range tables {
		tables[i].Database = name
		tables[i].Topic = name + "-" + tables[i].Name
	}
	f.opts = cdc.Options{Name: name, DSN: f.dsn, Tables: tables, MaskReplacement: cdc.DefaultMaskReplacement,
		OffsetsTopic: name + "-offsets", DeadLetterTopic: name + "-dlq", OffsetFlushInterval: 100 * time.Millisecond}

	var err error
	f.cl, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()))
	require.NoError(t, err)
	t.Cleanup(f.cl.Close)
	adm := kadm.NewClient(f.cl)
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for _, tp := range []struct {
		name       string
		partitions int32
		cfg        map[string]*string
	}{{tables[0].Topic, 3, compact}, {tables[1].Topic, 3, compact}, {f.opts.OffsetsTopic, 1, compact}, {f.opts.DeadLetterTopic, 1, nil}} {
		_, err := adm.CreateTopic(context.Background(), tp.partitions, 1, tp.cfg, tp.name)
		require.NoError(t, err)
	}
	require.NoError(t, topics.AwaitServed(context.Background(), f.cl, time.Minute, tables[0].Topic, tables[1].Topic, f.opts.OffsetsTopic, f.opts.DeadLetterTopic))
	return f
}

// run runs a source in this process until the returned stop is called,
// restarted after failures by the loop every service runs it in.
func (f *fixture) run(opts cdc.Options) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	src, err := cdc.New(ctx, opts, f.cl, f.reg)
	require.NoError(f.t, err)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		done <- run.Restart(ctx, log, "cdc", run.Backoff{Min: 100 * time.Millisecond, Max: time.Second}, src.Run, nil)
	}()
	return func() error {
		cancel()
		err := <-done
		src.Close()
		return err
	}
}

// latest reads a topic to its end: the last value per key (nil: tombstone),
// and every record.
func (f *fixture) latest(topic string) (map[string][]byte, []*kgo.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string][]byte{}
	var all []*kgo.Record
	require.NoError(f.t, topics.ReadToEnd(ctx, f.cl, topic, func(r *kgo.Record) error {
		out[string(r.Key)] = r.Value
		all = append(all, r)
		return nil
	}))
	return out, all
}

// expected reads the tables as the topics must show them: every row by id,
// credit_card masked.
func (f *fixture) expected() (map[string]avro.Customer, map[string]avro.Product) {
	customers := map[string]avro.Customer{}
	rows, err := f.root.Query("SELECT id, first_name, last_name, email, phone, credit_card, city, country, created_at, updated_at FROM customers")
	require.NoError(f.t, err)
	for rows.Next() {
		var c avro.Customer
		require.NoError(f.t, rows.Scan(&c.ID, &c.FirstName, &c.LastName, &c.Email, &c.Phone, &c.CreditCard, &c.City, &c.Country, &c.CreatedAt, &c.UpdatedAt))
		if c.CreditCard != nil {
			masked := cdc.DefaultMaskReplacement
			c.CreditCard = &masked
		}
		customers[codecs.Key(c.ID)] = c
	}
	require.NoError(f.t, rows.Err())
	products := map[string]avro.Product{}
	rows, err = f.root.Query("SELECT id, name, category, CAST(price AS CHAR), description, created_at, updated_at FROM products")
	require.NoError(f.t, err)
	for rows.Next() {
		var p avro.Product
		var price string
		require.NoError(f.t, rows.Scan(&p.ID, &p.Name, &p.Category, &price, &p.Description, &p.CreatedAt, &p.UpdatedAt))
		p.Price = rat(price)
		products[codecs.Key(p.ID)] = p
	}
	require.NoError(f.t, rows.Err())
	return customers, products
}

// converged reports whether the topics show exactly the tables (deleted
// rows: a tombstone last), and what differs.
func (f *fixture) converged() (bool, string) {
	wantC, wantP := f.expected()
	ctx := context.Background()
	cc, err := codecs.NewAvro[avro.Customer](ctx, f.reg, codecs.ValueSubject(f.opts.Tables[0].Topic), avro.CustomerSchema)
	require.NoError(f.t, err)
	pc, err := codecs.NewAvro[avro.Product](ctx, f.reg, codecs.ValueSubject(f.opts.Tables[1].Topic), avro.ProductSchema)
	require.NoError(f.t, err)
	gotC, _ := f.latest(f.opts.Tables[0].Topic)
	gotP, _ := f.latest(f.opts.Tables[1].Topic)
	if d := compare(f.t, gotC, wantC, cc.DecodeValue, customerEqual); d != "" {
		return false, "customers: " + d
	}
	if d := compare(f.t, gotP, wantP, pc.DecodeValue, productEqual); d != "" {
		return false, "products: " + d
	}
	return true, ""
}

func compare[T any](t testing.TB, got map[string][]byte, want map[string]T, decode func([]byte) (*T, error), eq func(a, b T) bool) string {
	for k, w := range want {
		raw, ok := got[k]
		if !ok || raw == nil {
			return fmt.Sprintf("key %s missing or tombstoned", k)
		}
		v, err := decode(raw)
		require.NoError(t, err)
		if !eq(*v, w) {
			return fmt.Sprintf("key %s: got %+v, want %+v", k, *v, w)
		}
	}
	for k, raw := range got {
		if _, ok := want[k]; !ok && raw != nil {
			return fmt.Sprintf("key %s: deleted row not tombstoned", k)
		}
	}
	return ""
}

func customerEqual(a, b avro.Customer) bool {
	return a.ID == b.ID && a.FirstName == b.FirstName && a.LastName == b.LastName && a.Email == b.Email &&
		eqp(a.Phone, b.Phone) && eqp(a.CreditCard, b.CreditCard) && eqp(a.City, b.City) && eqp(a.Country, b.Country) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func productEqual(a, b avro.Product) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Category == b.Category && a.Price.Cmp(b.Price) == 0 &&
		eqp(a.Description, b.Description) && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func eqp(a, b *string) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

// await polls until the topics show the tables.
func (f *fixture) await(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		ok, diff := f.converged()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("topics did not converge to the tables in %v: %s", timeout, diff)
		}
		time.Sleep(100 * time.Millisecond) // polling interval of a condition, not a synchronisation
	}
}

// cardNumbers are the raw card numbers in the database.
func (f *fixture) cardNumbers() []string {
	rows, err := f.root.Query("SELECT credit_card FROM customers WHERE credit_card IS NOT NULL")
	require.NoError(f.t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(f.t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NotEmpty(f.t, out)
	return out
}

// assertNoCardNumbers checks every byte of every topic of the source.
func (f *fixture) assertNoCardNumbers(cards []string) {
	for _, topic := range []string{f.opts.Tables[0].Topic, f.opts.Tables[1].Topic, f.opts.OffsetsTopic, f.opts.DeadLetterTopic} {
		_, records := f.latest(topic)
		for _, r := range records {
			parts := [][]byte{r.Key, r.Value}
			for _, h := range r.Headers {
				parts = append(parts, []byte(h.Key), h.Value)
			}
			for _, b := range parts {
				for _, card := range cards {
					require.NotContains(f.t, string(b), card, "raw card number on topic %s", topic)
				}
			}
		}
	}
}

func (f *fixture) exec(stmts ...string) {
	for _, s := range stmts {
		_, err := f.root.Exec(s)
		require.NoError(f.t, err, s)
	}
}

func rat(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }

func TestSnapshotThenBinlog(t *testing.T) {
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		f := newFixture(t, brokers)
		cards := f.cardNumbers()
		stop := f.run(f.opts)
		f.await(time.Minute) // the snapshot: 100 customers, 50 products

		f.exec(
			"INSERT INTO customers (id, first_name, last_name, email, phone, credit_card, city, country, created_at, updated_at) "+
				"VALUES (1001, 'Zoë', 'Ørsted 😀', 'zoe@example.com', NULL, '5555555555554444', NULL, 'DK', '2026-11-25 10:00:00.123', '2026-11-25 10:00:00.123')",
			"UPDATE products SET price = 1234.56 WHERE id = 1",
			"UPDATE products SET description = NULL, price = 0.01 WHERE id = 2",
			"UPDATE customers SET credit_card = '4000056655665556', city = 'Zürich' WHERE id = 2",
			"DELETE FROM customers WHERE id = 3",
			"ALTER TABLE customers ADD COLUMN loyalty_tier VARCHAR(10) NULL",
			"INSERT INTO customers (id, first_name, last_name, email, credit_card, loyalty_tier, created_at, updated_at) "+
				"VALUES (1002, 'After', 'Alter', 'after@example.com', '378282246310005', 'gold', '2026-11-25 11:00:00', '2026-11-25 11:00:00')",
			"UPDATE customers SET id = 2000 WHERE id = 4", // a new key: tombstone for 4
			"DELETE FROM products WHERE id = 50",
		)
		cards = append(cards, "5555555555554444", "4000056655665556", "378282246310005")
		f.await(time.Minute)

		gotC, recsC := f.latest(f.opts.Tables[0].Topic)
		assert.Nil(t, gotC["3"], "deleted customer: tombstone last")
		assert.Nil(t, gotC["4"], "customer whose id changed: tombstone for the old id")
		// Debezium's headers on the two records of a primary-key change,
		// as its SimpleHeaderConverter writes the key struct; none elsewhere.
		headers := map[string]map[string]string{}
		for _, r := range recsC {
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			headers[string(r.Key)] = h
		}
		assert.Equal(t, map[string]string{cdc.HeaderNewKey: `{"id":2000}`}, headers["4"], "the old key's tombstone")
		assert.Equal(t, map[string]string{cdc.HeaderOldKey: `{"id":4}`}, headers["2000"], "the new key's record")
		assert.Empty(t, headers["3"], "a delete's tombstone")
		assert.Empty(t, headers["2"], "an update")
		f.assertNoCardNumbers(cards)
		require.NoError(t, stop())

		// A restart resumes from the saved position: nothing is snapshotted
		// again, later changes arrive.
		_, before := f.latest(f.opts.Tables[1].Topic)
		stop = f.run(f.opts)
		f.exec("UPDATE products SET name = 'Renamed' WHERE id = 5")
		f.await(time.Minute)
		require.NoError(t, stop())
		_, after := f.latest(f.opts.Tables[1].Topic)
		assert.Len(t, after, len(before)+1, "one new product record after the restart, no second snapshot")
	})
}

func TestPurgedPositionIsAClearErrorOrASnapshot(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	// A position the server does not have (purged binlog, or a reset server).
	require.NoError(t, f.cl.ProduceSync(context.Background(), &kgo.Record{Topic: f.opts.OffsetsTopic, Key: []byte(f.opts.Name),
		Value: []byte(`{"file":"mysql-bin.999999","pos":4,"snapshot_completed":true}`)}).FirstErr())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := cdc.New(ctx, f.opts, f.cl, f.reg)
	require.NoError(t, err)
	err = src.Run(ctx)
	src.Close()
	require.ErrorContains(t, err, "no longer has binlog position mysql-bin.999999:4")
	require.ErrorContains(t, err, "--reset.offsets")
	require.NoError(t, ctx.Err(), "a permanent error, returned at once, not retried")

	opts := f.opts
	opts.SnapshotMode = cdc.SnapshotWhenNeeded
	stop := f.run(opts)
	f.await(time.Minute)
	require.NoError(t, stop())
}

func TestMissingPrivilegesNameTheGrant(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	user := "nopriv_" + f.db[len(f.db)-6:]
	f.exec("CREATE USER '"+user+"'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT ON "+f.db+".* TO '"+user+"'@'%'")
	t.Cleanup(func() { _, _ = f.root.Exec("DROP USER '" + user + "'@'%'") })
	cfg, err := mysql.ParseDSN(f.dsn)
	require.NoError(t, err)
	cfg.User, cfg.Passwd = user, "pw"
	opts := f.opts
	opts.DSN = cfg.FormatDSN()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, err := cdc.New(ctx, opts, f.cl, f.reg)
	require.NoError(t, err)
	defer src.Close()
	err = src.Run(ctx)
	require.ErrorContains(t, err, fmt.Sprintf("user %q lacks a privilege CDC needs", user))
	require.ErrorContains(t, err, "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT")
	require.NoError(t, ctx.Err())
}

func TestReconnectsAfterLostConnection(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	// The source runs as a user of its own, so that only its binlog stream
	// is killed: other tests (and Debezium in the connectors package) read
	// the same server's binlog at the same time.
	user := "reconnect_" + f.db[len(f.db)-6:]
	f.exec("CREATE USER '"+user+"'@'%' IDENTIFIED BY 'pw'",
		"GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '"+user+"'@'%'")
	t.Cleanup(func() { _, _ = f.root.Exec("DROP USER '" + user + "'@'%'") })
	cfg, err := mysql.ParseDSN(f.dsn)
	require.NoError(t, err)
	cfg.User, cfg.Passwd = user, "pw"
	opts := f.opts
	opts.DSN = cfg.FormatDSN()
	stop := f.run(opts)
	defer func() { require.NoError(t, stop()) }()
	f.await(time.Minute)

	// Kill the server side of the source's binlog stream (as a failover or
	// a network cut would), then change rows.
	killed := 0
	rows, err := f.root.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?", user)
	require.NoError(t, err)
	var ids []int64
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	for _, id := range ids {
		if _, err := f.root.Exec(fmt.Sprintf("KILL %d", id)); err == nil {
			killed++
		}
	}
	require.Positive(t, killed, "no binlog stream to kill")
	f.exec("UPDATE customers SET city = 'After the cut' WHERE id = 10", "DELETE FROM products WHERE id = 49")
	f.await(time.Minute)
}

// TestBinlogDeadLetterNamesTheEventPosition: a row that does not fit its
// schema goes to the dead-letter topic with headers naming where it is in
// the binlog: the file, and the position of its rows event (where
// mysqlbinlog --start-position finds it), not 0.
func TestBinlogDeadLetterNamesTheEventPosition(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	stop := f.run(f.opts)
	defer func() { require.NoError(t, stop()) }()
	f.await(time.Minute)

	// first_name may now be NULL in MySQL but not in the Avro schema.
	f.exec("ALTER TABLE customers MODIFY first_name VARCHAR(100) NULL",
		"INSERT INTO customers (id, first_name, last_name, email) VALUES (1500, NULL, 'Nameless', 'nameless@example.com')")
	// Where the server put that row: the last rows event of the binlog.
	var file string
	var pos uint32
	rows, err := f.root.Query("SHOW BINARY LOGS")
	require.NoError(t, err)
	for rows.Next() {
		var name string
		var size any
		cols, _ := rows.Columns()
		dest := []any{&name, &size}
		for len(dest) < len(cols) {
			dest = append(dest, new(any))
		}
		require.NoError(t, rows.Scan(dest...))
		file = name
	}
	require.NoError(t, rows.Err())
	events, err := f.root.Query("SHOW BINLOG EVENTS IN '" + file + "'")
	require.NoError(t, err)
	for events.Next() {
		var logName, eventType, info string
		var at, serverID, end uint64
		require.NoError(t, events.Scan(&logName, &at, &eventType, &serverID, &end, &info))
		if strings.HasPrefix(eventType, "Write_rows") {
			pos = uint32(at)
		}
	}
	require.NoError(t, events.Err())
	require.NotZero(t, pos, "no rows event in %s", file)

	var dead []*kgo.Record
	for deadline := time.Now().Add(time.Minute); len(dead) == 0; {
		_, dead = f.latest(f.opts.DeadLetterTopic)
		if time.Now().After(deadline) {
			t.Fatal("the row did not reach the dead-letter topic within a minute")
		}
		time.Sleep(100 * time.Millisecond) // polling interval of a condition
	}
	require.Len(t, dead, 1)
	h := map[string]string{}
	for _, x := range dead[0].Headers {
		h[x.Key] = string(x.Value)
	}
	assert.Equal(t, "binlog:"+file, h["__connect.errors.topic"])
	assert.Equal(t, fmt.Sprint(pos), h["__connect.errors.offset"], "the rows event's position in %s", file)
	assert.Contains(t, string(dead[0].Value), "Nameless")
}
