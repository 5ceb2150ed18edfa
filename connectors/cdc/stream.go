package cdc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/kit/run"
)

// tracker follows transactions from the binlog to Kafka's acknowledgements
// and knows the position up to which everything is acknowledged.
type tracker struct {
	mu      sync.Mutex
	file    string
	gtid    string
	open    *txn
	closed  []*txn // in binlog order, waiting for acks
	acked   Offset // everything up to here is acknowledged
	failure error
}

type txn struct {
	pending int
	end     Offset
}

func newTracker(from Offset) *tracker {
	return &tracker{file: from.File, acked: from, open: &txn{}}
}

// promise is the produce callback of a record of the open transaction.
func (t *tracker) promise() func(*kgo.Record, error) {
	t.mu.Lock()
	tx := t.open
	tx.pending++
	t.mu.Unlock()
	return func(r *kgo.Record, err error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if err != nil && t.failure == nil {
			t.failure = fmt.Errorf("producing to %s: %w", r.Topic, err)
		}
		tx.pending--
		t.advance()
	}
}

// commit closes the open transaction at binlog position pos.
func (t *tracker) commit(pos uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.open.end = Offset{File: t.file, Pos: pos, GTID: t.gtid, SnapshotCompleted: true}
	t.closed = append(t.closed, t.open)
	t.open = &txn{}
	t.advance()
}

func (t *tracker) advance() {
	for len(t.closed) > 0 && t.closed[0].pending == 0 && t.failure == nil {
		t.acked = t.closed[0].end
		t.closed = t.closed[1:]
	}
}

func (t *tracker) state() (Offset, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acked, t.failure
}

// stream reads the binlog from *from until ctx ends or the stream fails,
// saving the acknowledged position as it goes; *from is left at the last
// saved position.
func (s *Source) stream(ctx context.Context, from *Offset) error {
	var version string
	if err := s.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return fmt.Errorf("connecting to MySQL at %s: %w", s.dsn.Addr, err)
	}
	flavor := gmysql.MySQLFlavor
	if strings.Contains(strings.ToLower(version), "mariadb") {
		flavor = gmysql.MariaDBFlavor
	}
	cfg, err := s.binlogConfig(flavor)
	if err != nil {
		return err
	}
	syncer := replication.NewBinlogSyncer(cfg)
	defer syncer.Close()
	streamer, err := syncer.StartSync(gmysql.Position{Name: from.File, Pos: from.Pos})
	if err != nil {
		return explainPrivileges(fmt.Errorf("starting the binlog stream at %s: %w", from, err), s.dsn.User)
	}
	s.log.InfoContext(ctx, "streaming the binlog", "position", from.String(), "server.id", s.opts.ServerID)

	tr := newTracker(*from)
	saved := *from
	save := func(ctx context.Context) error {
		acked, failure := tr.state()
		if failure != nil {
			return failure
		}
		if acked == saved {
			return nil
		}
		if err := s.offsets.save(ctx, acked); err != nil {
			return err
		}
		saved, *from = acked, acked
		offsetsSaved.Inc()
		return nil
	}
	// On the way out, save what Kafka acknowledged (on a fresh context: ctx
	// may be what ended).
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.cl.Flush(fctx); err != nil {
			s.log.Warn("flushing the producer on the way out", "err", err)
		}
		if err := save(fctx); err != nil {
			s.log.Warn("saving the position on the way out", "err", err)
		} else {
			s.log.Info("position saved", "position", saved.String())
		}
	}()

	flush := time.NewTicker(s.opts.OffsetFlushInterval)
	defer flush.Stop()
	for {
		select {
		case <-flush.C:
			if err := save(ctx); err != nil {
				return err
			}
		default:
		}
		ectx, cancel := context.WithTimeout(ctx, s.opts.OffsetFlushInterval)
		ev, err := streamer.GetEvent(ectx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			continue // idle: go round to save the position
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return explainPrivileges(fmt.Errorf("reading the binlog after %s: %w", saved, err), s.dsn.User)
		}
		observeLag(ev)
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			tr.mu.Lock()
			tr.file = string(e.NextLogName)
			tr.mu.Unlock()
		case *replication.MariadbGTIDEvent:
			tr.mu.Lock()
			tr.gtid = e.GTID.String()
			tr.mu.Unlock()
		case *replication.GTIDEvent:
			tr.mu.Lock()
			tr.gtid = fmt.Sprintf("%x:%d", e.SID, e.GNO)
			tr.mu.Unlock()
		case *replication.RowsEvent:
			if err := s.rows(ctx, e, ev.Header, tr); err != nil {
				return err
			}
		case *replication.XIDEvent:
			tr.commit(ev.Header.LogPos)
		case *replication.QueryEvent:
			// BEGIN opens a transaction; anything else (DDL, COMMIT of a
			// non-transactional table) ends one.
			if q := strings.TrimSpace(string(e.Query)); !strings.EqualFold(q, "BEGIN") {
				tr.commit(ev.Header.LogPos)
			}
		}
	}
}

// observeLag sets the binlog lag from an event: now minus the time of a
// change (rows, query, XID), and 0 on a heartbeat, which the server sends
// only when it has nothing else to send: everything is read. Other events
// say nothing about it: a format description or a GTID list carries the
// time its binlog file was started (a stream started on an idle server
// would read as hours behind), a rotate none.
func observeLag(ev *replication.BinlogEvent) {
	switch ev.Event.(type) {
	case *replication.HeartbeatEvent:
		lagSeconds.Set(0)
	case *replication.RowsEvent, *replication.QueryEvent, *replication.XIDEvent:
		if ev.Header.Timestamp > 0 {
			lagSeconds.Set(max(0, time.Since(time.Unix(int64(ev.Header.Timestamp), 0)).Seconds()))
		}
	}
}

// rows turns one rows event of a captured table into records; h is the
// event's header, whose start position (LogPos is where it ends) names the
// rows in dead-letter headers.
func (s *Source) rows(ctx context.Context, e *replication.RowsEvent, h *replication.EventHeader, tr *tracker) error {
	c := s.tables[string(e.Table.Schema)+"."+string(e.Table.Table)]
	if c == nil {
		return nil
	}
	names := e.Table.ColumnNameString()
	if len(names) == 0 {
		return &run.Permanent{Err: fmt.Errorf("the binlog has no column names for %s.%s: set binlog_row_metadata=FULL on the server (see database/mysql-cdc.cnf)", c.Database, c.Name)}
	}
	tr.mu.Lock()
	pos := Offset{File: tr.file, Pos: h.LogPos - h.EventSize}
	tr.mu.Unlock()

	cols, err := s.tableColumns(ctx, c, e.Table, "the binlog at "+pos.String())
	if err != nil {
		return err
	}
	// asRow maps a row's values to its columns; a value that is not its
	// column's (an ENUM index out of range) is a bad row.
	asRow := func(values []any) (map[string]any, error) {
		row := make(map[string]any, len(names))
		var bad error
		for i, v := range values {
			if i >= len(names) {
				continue
			}
			if i < len(cols) && cols[i].value != nil {
				nv, err := cols[i].value(v)
				if err != nil && bad == nil {
					bad = fmt.Errorf("column %q: %w", names[i], err)
				}
				if err == nil {
					v = nv
				}
			}
			row[names[i]] = v
		}
		return row, bad
	}
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		for _, values := range e.Rows {
			binlogRows.WithLabelValues(c.Topic, "insert").Inc()
			row, bad := asRow(values)
			if bad != nil {
				if err := s.deadLetter(ctx, c, row, pos, bad, tr.promise()); err != nil {
					return err
				}
				continue
			}
			if err := s.upsert(ctx, c, row, pos, nil, tr.promise()); err != nil {
				return err
			}
		}
	case replication.EnumRowsEventTypeUpdate:
		for i := 0; i+1 < len(e.Rows); i += 2 {
			before, _ := asRow(e.Rows[i])
			after, bad := asRow(e.Rows[i+1])
			binlogRows.WithLabelValues(c.Topic, "update").Inc()
			if bad != nil {
				if err := s.deadLetter(ctx, c, after, pos, bad, tr.promise()); err != nil {
					return err
				}
				continue
			}
			oldKey, err1 := c.mapper.key(before)
			newKey, err2 := c.mapper.key(after)
			var headers []kgo.RecordHeader
			if err1 == nil && err2 == nil && oldKey != newKey {
				// The id changed: the old key is gone, with Debezium's
				// headers naming the other key on both records.
				if err := s.tombstone(ctx, c, oldKey, c.keyHeader(HeaderNewKey, newKey), tr.promise()); err != nil {
					return err
				}
				headers = c.keyHeader(HeaderOldKey, oldKey)
			}
			if err := s.upsert(ctx, c, after, pos, headers, tr.promise()); err != nil {
				return err
			}
		}
	case replication.EnumRowsEventTypeDelete:
		for _, values := range e.Rows {
			binlogRows.WithLabelValues(c.Topic, "delete").Inc()
			row, _ := asRow(values)
			key, err := c.mapper.key(row)
			if err != nil {
				if err := s.deadLetter(ctx, c, row, pos, err, tr.promise()); err != nil {
					return err
				}
				continue
			}
			if err := s.tombstone(ctx, c, key, nil, tr.promise()); err != nil {
				return err
			}
		}
	}
	return nil
}

// tableColumns returns the columns of a rows event's table map, after
// reconciling the table's schema with them when they are not the ones it
// was last reconciled with (an ALTER TABLE in between, or the first event).
func (s *Source) tableColumns(ctx context.Context, c *capture, tm *replication.TableMapEvent, where string) ([]column, error) {
	if c.tableMap != nil && sameTableMap(tm, c.tableMap) {
		return c.checked, nil // the server sends the table map again with every transaction
	}
	cols := tableMapColumns(tm)
	if !slices.EqualFunc(cols, c.checked, func(a, b column) bool {
		return a.name == b.name && a.sqlType == b.sqlType && a.avro == b.avro
	}) {
		if err := s.reconcile(ctx, c, cols, where); err != nil {
			return nil, err
		}
	}
	c.checked, c.tableMap = cols, tm
	return cols, nil
}

// sameTableMap reports whether two table-map events describe the same
// columns (names, types, type metadata, signedness, collations, ENUM and
// SET values): a comparison of bytes, much cheaper than describing them.
func sameTableMap(a, b *replication.TableMapEvent) bool {
	eq := func(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) }
	eq2 := func(x, y [][][]byte) bool { return slices.EqualFunc(x, y, eq) }
	return bytes.Equal(a.ColumnType, b.ColumnType) && slices.Equal(a.ColumnMeta, b.ColumnMeta) && eq(a.ColumnName, b.ColumnName) &&
		bytes.Equal(a.SignednessBitmap, b.SignednessBitmap) && slices.Equal(a.DefaultCharset, b.DefaultCharset) &&
		slices.Equal(a.ColumnCharset, b.ColumnCharset) && eq2(a.EnumStrValue, b.EnumStrValue) && eq2(a.SetStrValue, b.SetStrValue)
}
