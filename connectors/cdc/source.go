// Package cdc is the Go-native MySQL/MariaDB change-data-capture source: it
// puts on Kafka what the Debezium MySQL connector with the SMT chain of
// connectors/cloud and connectors/connect puts there.
//
//	MySQL binlog (ROW, FULL image, FULL metadata) ──► cdc-source ──► customers   key id, Customer (credit_card masked)
//	                                                      │        ──► products    key id, Product
//	                                                      ├──► cdc-source-offsets   binlog position, after Kafka acks
//	                                                      └──► cdc-source-dlq       rows that do not fit their schema
//
// A row becomes a record keyed by its id (decimal string), valued with the
// table's Avro record in our namespace (Confluent wire format, schema
// registered under <topic>-value), masked columns replaced before the value
// leaves the process. A deleted row becomes a tombstone; an update that
// changes the id, a tombstone for the old id and a record for the new one,
// with Debezium's __debezium.newkey / __debezium.oldkey headers.
//
// First start: a consistent snapshot of the tables without a global lock
// (MariaDB: START TRANSACTION WITH CONSISTENT SNAPSHOT reports the exact
// binlog position of the snapshot), then the binlog from that position.
// The position after the last transaction whose records Kafka acknowledged
// is saved to a compacted offsets topic every OffsetFlushInterval: a
// restart, even after kill -9, resumes there and loses no change (it may
// repeat a few, which compacted topics and idempotent consumers absorb).
// Column names come from the binlog's own table-map events
// (binlog_row_metadata=FULL), never from the current information_schema, so
// events written before an ALTER TABLE are read right.
//
// Schema evolution: a column the topic's value schema does not know is never
// dropped. By default (EvolveSchema) it becomes a new optional field of the
// schema, registered as a new backward-compatible version, as Debezium with
// the Avro converter does; a change no compatible version can express (a
// column's type changes, a column whose field has no default is dropped)
// stops the source with an error naming the table and the column. The
// schema a run starts with is the .avsc plus what the latest registered
// version added, so the evolution survives restarts.
package cdc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-sql-driver/mysql"
	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/deadletter"
	"github.com/orderstream/pipeline/kit/run"
)

// Snapshot modes.
const (
	SnapshotInitial    = "initial"     // snapshot when there is no stored offset
	SnapshotWhenNeeded = "when_needed" // also when the stored position was purged from the server
)

// Options configure a Source.
type Options struct {
	Name                string // the connector's name: the key of its offset
	DSN                 string // go-sql-driver DSN of a user with SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT
	ServerID            uint32 // replica server id, unique among the server's replicas (0: random)
	Tables              []Table
	MaskReplacement     string
	OffsetsTopic        string
	DeadLetterTopic     string
	SnapshotMode        string
	OffsetFlushInterval time.Duration
	// SchemaEvolution is what a column the topic's schema does not know
	// does: EvolveSchema (the default) or FailOnUnknownColumn.
	SchemaEvolution string
	// HeartbeatInterval is how often the server sends a heartbeat event
	// when it has nothing else to send (default 10 s): it keeps the
	// connection alive and tells the source it has read everything, which
	// is when its binlog lag is 0.
	HeartbeatInterval time.Duration
	Logger            *slog.Logger
	// OnCapturing, when set, is called once the source has checked the
	// server and its stored position and is capturing (snapshot or
	// binlog): the service reports itself ready then.
	OnCapturing func()
}

// Source captures the tables' changes.
type Source struct {
	opts    Options
	cl      *kgo.Client
	reg     *codecs.Registry
	db      *sql.DB
	dsn     *mysql.Config
	tables  map[string]*capture // by "db.table"
	offsets *offsetStore
	log     *slog.Logger
}

// capture is one captured table and the schema its records are written
// with (see reconcile).
type capture struct {
	Table
	text   string // the schema, as registered
	schema *tavro.Schema
	mapper *rowMapper
	codec  *codecs.Avro[map[string]any]
	// checked: the columns of the binlog table-map event tableMap, which
	// the schema was last reconciled with.
	checked  []column
	tableMap *replication.TableMapEvent
}

// New prepares a source: it registers the tables' schemas and opens the
// database. cl is the producing client (acks=all, idempotent).
func New(ctx context.Context, opts Options, cl *kgo.Client, reg *codecs.Registry) (*Source, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Name == "" {
		opts.Name = "cdc-source"
	}
	if opts.ServerID == 0 {
		opts.ServerID = 5400 + rand.Uint32N(1000)
	}
	if opts.OffsetFlushInterval <= 0 {
		opts.OffsetFlushInterval = time.Second
	}
	if opts.SnapshotMode == "" {
		opts.SnapshotMode = SnapshotInitial
	}
	if opts.SnapshotMode != SnapshotInitial && opts.SnapshotMode != SnapshotWhenNeeded {
		return nil, &run.Permanent{Err: fmt.Errorf("snapshot.mode %q: want %s or %s", opts.SnapshotMode, SnapshotInitial, SnapshotWhenNeeded)}
	}
	if opts.SchemaEvolution == "" {
		opts.SchemaEvolution = EvolveSchema
	}
	if opts.SchemaEvolution != EvolveSchema && opts.SchemaEvolution != FailOnUnknownColumn {
		return nil, &run.Permanent{Err: fmt.Errorf("schema.evolution %q: want %s or %s", opts.SchemaEvolution, EvolveSchema, FailOnUnknownColumn)}
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 10 * time.Second
	}
	dsn, err := mysql.ParseDSN(opts.DSN)
	if err != nil {
		return nil, &run.Permanent{Err: fmt.Errorf("mysql.dsn: %w", err)}
	}
	// DATETIME columns hold UTC; read them as such.
	dsn.ParseTime, dsn.Loc = true, time.UTC
	db, err := sql.Open("mysql", dsn.FormatDSN())
	if err != nil {
		return nil, &run.Permanent{Err: fmt.Errorf("mysql.dsn: %w", err)}
	}
	s := &Source{opts: opts, cl: cl, reg: reg, db: db, dsn: dsn, tables: map[string]*capture{},
		offsets: &offsetStore{cl: cl, topic: opts.OffsetsTopic, key: opts.Name},
		log:     opts.Logger.With("connector", opts.Name)}
	for _, t := range opts.Tables {
		if _, err := tavro.Parse(t.Schema); err != nil {
			return nil, &run.Permanent{Err: fmt.Errorf("table %s.%s: schema: %w", t.Database, t.Name, err)}
		}
		text, err := startSchema(ctx, reg, t)
		if err != nil {
			return nil, err
		}
		c := &capture{Table: t}
		if err := s.useSchema(ctx, c, text); err != nil {
			return nil, err
		}
		s.tables[t.Database+"."+t.Name] = c
	}
	return s, nil
}

// Close releases the database connections.
func (s *Source) Close() error { return s.db.Close() }

// ResetOffset forgets the stored position: the next Run takes a snapshot.
func (s *Source) ResetOffset(ctx context.Context) error { return s.offsets.reset(ctx) }

// Run captures changes until ctx ends: the snapshot when there is no
// stored position (or, with SnapshotWhenNeeded, when the stored one was
// purged from the server), then the binlog. It returns nil once ctx ends,
// and an error when it cannot go on: a lost connection or an unreachable
// broker (the caller restarts it; it resumes from the last saved
// position), or a *run.Permanent error for what needs an operator.
func (s *Source) Run(ctx context.Context) error {
	if err := s.checkServer(ctx); err != nil {
		return err
	}
	from, err := s.offsets.load(ctx)
	if err != nil {
		return err
	}
	if from != nil && from.SnapshotCompleted {
		s.log.InfoContext(ctx, "resuming from the stored position", "position", from.String())
	}
	if s.opts.OnCapturing != nil {
		s.opts.OnCapturing()
	}
	for {
		if from == nil || !from.SnapshotCompleted {
			if from, err = s.snapshot(ctx); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
		}
		err := s.stream(ctx, from)
		if err == nil && ctx.Err() == nil {
			err = errors.New("the binlog stream ended")
		}
		if !isPurged(err) {
			return err
		}
		if s.opts.SnapshotMode != SnapshotWhenNeeded {
			return &run.Permanent{Err: fmt.Errorf("the server no longer has binlog position %s (purged, or the server was reset): %w; "+
				"to take a new snapshot, restart once with --reset.offsets, or run with --snapshot.mode=%s", from, err, SnapshotWhenNeeded)}
		}
		s.log.WarnContext(ctx, "stored binlog position is gone from the server; taking a new snapshot", "position", from.String(), "err", err)
		from = nil
	}
}

// checkServer verifies the server settings and privileges CDC needs, with
// errors that name the fix.
func (s *Source) checkServer(ctx context.Context) error {
	vars := map[string]string{}
	for _, name := range []string{"log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata"} {
		var v sql.NullString
		if err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&v); err != nil {
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1193 { // unknown system variable
				vars[name] = ""
				continue
			}
			return fmt.Errorf("connecting to MySQL at %s: %w", s.dsn.Addr, err)
		}
		vars[name] = v.String
	}
	if err := checkSettings(vars); err != nil {
		return &run.Permanent{Err: err}
	}
	if _, err := s.masterStatus(ctx, s.db); err != nil {
		return err
	}
	return nil
}

// checkSettings says what is wrong with the server's binlog settings.
func checkSettings(v map[string]string) error {
	var problems []string
	if v["log_bin"] != "1" && !strings.EqualFold(v["log_bin"], "ON") {
		problems = append(problems, "the binary log is off: start the server with log-bin")
	}
	if !strings.EqualFold(v["binlog_format"], "ROW") {
		problems = append(problems, fmt.Sprintf("binlog_format is %q: set binlog_format=ROW (SET GLOBAL binlog_format='ROW', and in my.cnf)", v["binlog_format"]))
	}
	if !strings.EqualFold(v["binlog_row_image"], "FULL") {
		problems = append(problems, fmt.Sprintf("binlog_row_image is %q: set binlog_row_image=FULL so updates and deletes carry whole rows", v["binlog_row_image"]))
	}
	if !strings.EqualFold(v["binlog_row_metadata"], "FULL") {
		problems = append(problems, fmt.Sprintf("binlog_row_metadata is %q: set binlog_row_metadata=FULL (MySQL 8.0.1+, MariaDB 10.5+) so the binlog carries column names", v["binlog_row_metadata"]))
	}
	if len(problems) > 0 {
		return fmt.Errorf("the server is not set up for CDC (see database/mysql-cdc.cnf): %s", strings.Join(problems, "; "))
	}
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// masterStatus returns the server's current binlog file and position.
func (s *Source) masterStatus(ctx context.Context, q queryer) (Offset, error) {
	// MySQL 8.4 renamed SHOW MASTER STATUS (gone there) to SHOW BINARY LOG
	// STATUS, which MariaDB does not know.
	rows, err := q.QueryContext(ctx, "SHOW MASTER STATUS")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1064 { // syntax error
		rows, err = q.QueryContext(ctx, "SHOW BINARY LOG STATUS")
	}
	if err != nil {
		return Offset{}, explainPrivileges(err, s.dsn.User)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return Offset{}, &run.Permanent{Err: errors.New("the server reports no binlog status: the binary log is off (start the server with log-bin)")}
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return Offset{}, err
	}
	pos, err := strconv.ParseUint(vals[1].String, 10, 32)
	if err != nil {
		return Offset{}, fmt.Errorf("binlog status position %q: %w", vals[1].String, err)
	}
	return Offset{File: vals[0].String, Pos: uint32(pos)}, rows.Err()
}

func explainPrivileges(err error, user string) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1227 || me.Number == 1044 || me.Number == 1045 || me.Number == 1142) {
		return &run.Permanent{Err: fmt.Errorf("user %q lacks a privilege CDC needs (%w): GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'@'%%' (see database/users.sql)", user, err, user)}
	}
	var ge *gmysql.MyError
	if errors.As(err, &ge) && (ge.Code == 1227 || ge.Code == 1045) {
		return &run.Permanent{Err: fmt.Errorf("user %q lacks a privilege CDC needs (%w): GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '%s'@'%%' (see database/users.sql)", user, err, user)}
	}
	return err
}

// isPurged reports the server's "binlog position not available" answer
// (ERROR 1236), which a replica gets for a purged or unknown binlog file.
func isPurged(err error) bool {
	var ge *gmysql.MyError
	return errors.As(err, &ge) && ge.Code == gmysql.ER_MASTER_FATAL_ERROR_READING_BINLOG
}

// snapshot reads every captured table inside one consistent-snapshot
// transaction and returns the binlog position that snapshot corresponds to,
// after its records are acknowledged and the position saved.
func (s *Source) snapshot(ctx context.Context) (*Offset, error) {
	start := time.Now()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to MySQL: %w", err)
	}
	defer conn.Close()
	var version string
	if err := conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return nil, err
	}
	// TIMESTAMP columns read in UTC, as the binlog has them.
	if _, err := conn.ExecContext(ctx, "SET SESSION time_zone = '+00:00'"); err != nil {
		return nil, err
	}
	var pos Offset
	if strings.Contains(strings.ToLower(version), "mariadb") {
		// MariaDB reports the binlog position of the snapshot itself: no lock.
		if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return nil, err
		}
		status := map[string]string{}
		rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return nil, err
			}
			status[strings.ToLower(k)] = v
		}
		rows.Close()
		p, err := strconv.ParseUint(status["binlog_snapshot_position"], 10, 32)
		if err != nil || status["binlog_snapshot_file"] == "" {
			return nil, fmt.Errorf("MariaDB did not report the snapshot's binlog position (%v)", status)
		}
		pos = Offset{File: status["binlog_snapshot_file"], Pos: uint32(p)}
		var gtid sql.NullString
		if err := conn.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Pos).Scan(&gtid); err == nil {
			pos.GTID = gtid.String
		}
	} else {
		// MySQL: hold the global read lock only while the snapshot starts
		// and the position is read.
		if _, err := conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
			return nil, explainPrivileges(err, s.dsn.User)
		}
		if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return nil, err
		}
		pos, err = s.masterStatus(ctx, conn)
		if _, uerr := conn.ExecContext(ctx, "UNLOCK TABLES"); uerr != nil && err == nil {
			err = uerr
		}
		if err != nil {
			return nil, err
		}
	}
	s.log.InfoContext(ctx, "snapshot started", "position", pos.String())

	var failed error
	var mu sync.Mutex
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			failed = errors.Join(failed, fmt.Errorf("producing to %s: %w", r.Topic, err))
			mu.Unlock()
		}
	}
	var total int64
	for _, c := range s.sortedTables() {
		n, err := s.snapshotTable(ctx, conn, c, pos, promise)
		total += n
		if err != nil {
			return nil, err
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return nil, err
	}
	if err := s.cl.Flush(ctx); err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		return nil, failed
	}
	pos.SnapshotCompleted = true
	if err := s.offsets.save(ctx, pos); err != nil {
		return nil, err
	}
	el := time.Since(start)
	s.log.InfoContext(ctx, "snapshot completed", "rows", total, "elapsed", el.Round(time.Millisecond),
		"rows_per_s", int(float64(total)/max(el.Seconds(), 1e-9)), "position", pos.String())
	return &pos, nil
}

func (s *Source) sortedTables() []*capture {
	var out []*capture
	for _, t := range s.opts.Tables {
		out = append(out, s.tables[t.Database+"."+t.Name])
	}
	return out
}

func (s *Source) snapshotTable(ctx context.Context, conn *sql.Conn, c *capture, pos Offset, promise func(*kgo.Record, error)) (int64, error) {
	table := fmt.Sprintf("`%s`.`%s`", c.Database, c.Name)
	var count int64
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&count); err != nil {
		return 0, fmt.Errorf("counting %s: %w", table, explainPrivileges(err, s.dsn.User))
	}
	rows, err := conn.QueryContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return 0, err
	}
	if err := s.reconcile(ctx, c, resultColumns(types), "the snapshot"); err != nil {
		return 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var done int64
	start, lastLog := time.Now(), time.Now()
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return done, fmt.Errorf("reading %s: %w", table, err)
		}
		row := make(map[string]any, len(cols))
		for i, col := range cols {
			row[col] = vals[i]
		}
		if err := s.upsert(ctx, c, row, pos, nil, promise); err != nil {
			return done, err
		}
		done++
		snapshotRows.WithLabelValues(c.Topic).Inc()
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			s.log.InfoContext(ctx, "snapshot progress", "table", c.Database+"."+c.Name, "rows", done, "of", count,
				"percent", int(100*float64(done)/float64(max(count, 1))), "rows_per_s", int(float64(done)/time.Since(start).Seconds()))
		}
	}
	if err := rows.Err(); err != nil {
		return done, fmt.Errorf("reading %s: %w", table, err)
	}
	s.log.InfoContext(ctx, "snapshot of table done", "table", c.Database+"."+c.Name, "rows", done, "elapsed", time.Since(start).Round(time.Millisecond))
	return done, nil
}

// upsert produces a row's record, or dead-letters a row that does not fit
// its schema. It blocks when the client's buffer is full (backpressure).
func (s *Source) upsert(ctx context.Context, c *capture, row map[string]any, pos Offset, headers []kgo.RecordHeader, promise func(*kgo.Record, error)) error {
	key, err := c.mapper.key(row)
	if err != nil {
		return s.deadLetter(ctx, c, row, pos, err, promise)
	}
	rec, err := c.mapper.record(row)
	if err == nil {
		var v []byte
		if v, err = c.codec.Encode(rec); err == nil {
			s.cl.Produce(ctx, &kgo.Record{Topic: c.Topic, Key: []byte(key), Value: v, Headers: headers}, promise)
			return ctx.Err()
		}
	}
	return s.deadLetter(ctx, c, row, pos, fmt.Errorf("row %s=%s of %s.%s: %w", c.KeyColumn, key, c.Database, c.Name, err), promise)
}

// tombstone produces the deletion of key.
func (s *Source) tombstone(ctx context.Context, c *capture, key string, headers []kgo.RecordHeader, promise func(*kgo.Record, error)) error {
	s.cl.Produce(ctx, &kgo.Record{Topic: c.Topic, Key: []byte(key), Headers: headers}, promise)
	return ctx.Err()
}

// Debezium's headers on the records of an update that changes the key: the
// old key's tombstone names the new key, the new key's record the old one.
// The values are the key struct as Kafka Connect's SimpleHeaderConverter
// writes it: {"id":12}.
const (
	HeaderNewKey = "__debezium.newkey"
	HeaderOldKey = "__debezium.oldkey"
)

// keyHeader is a key-change header: the key column and its value as JSON.
func (c *capture) keyHeader(name, key string) []kgo.RecordHeader {
	v, _ := json.Marshal(map[string]json.Number{c.KeyColumn: json.Number(key)})
	return []kgo.RecordHeader{{Key: name, Value: v}}
}

func (s *Source) deadLetter(ctx context.Context, c *capture, row map[string]any, pos Offset, cause error, promise func(*kgo.Record, error)) error {
	s.log.ErrorContext(ctx, "row does not fit its schema; dead-lettering it", "table", c.Database+"."+c.Name,
		"position", pos.String(), "err", cause, "dlq", s.opts.DeadLetterTopic)
	text := make(map[string]any, len(row))
	for k, v := range row {
		if c.mapper.mask[k] && v != nil {
			v = c.mapper.replacement // the DLQ must not leak what the topic masks
		}
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		text[k] = v
	}
	value, err := json.Marshal(text)
	if err != nil {
		return err
	}
	var headers []kgo.RecordHeader
	for k, v := range (deadletter.Record{Service: s.opts.Name, Topic: "binlog:" + pos.File, Offset: int64(pos.Pos),
		Stage: deadletter.StageValidate, Err: cause}).Headers() {
		headers = append(headers, kgo.RecordHeader{Key: k, Value: v})
	}
	headers = append(headers, kgo.RecordHeader{Key: "orderstream.cdc.table", Value: []byte(c.Database + "." + c.Name)})
	s.cl.Produce(ctx, &kgo.Record{Topic: s.opts.DeadLetterTopic, Value: value, Headers: headers}, promise)
	deadLettered.Inc()
	return ctx.Err()
}

// binlogConfig is the replica configuration for the binlog stream.
func (s *Source) binlogConfig(flavor string) (replication.BinlogSyncerConfig, error) {
	host, port, err := net.SplitHostPort(s.dsn.Addr)
	if err != nil {
		return replication.BinlogSyncerConfig{}, &run.Permanent{Err: fmt.Errorf("mysql.dsn address %q: %w", s.dsn.Addr, err)}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return replication.BinlogSyncerConfig{}, &run.Permanent{Err: fmt.Errorf("mysql.dsn port %q: %w", port, err)}
	}
	return replication.BinlogSyncerConfig{
		ServerID:             s.opts.ServerID,
		Flavor:               flavor,
		Host:                 host,
		Port:                 uint16(p),
		User:                 s.dsn.User,
		Password:             s.dsn.Passwd,
		Charset:              "utf8mb4",
		ParseTime:            true,
		UseDecimal:           false, // DECIMAL as its exact text
		HeartbeatPeriod:      s.opts.HeartbeatInterval,
		ReadTimeout:          max(30*time.Second, 3*s.opts.HeartbeatInterval),
		MaxReconnectAttempts: 3,
		Logger:               config.MinLevel(s.log.With("component", "go-mysql"), slog.LevelWarn),
	}, nil
}
