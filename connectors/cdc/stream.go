package cdc

import (
	"context"
	"errors"
	"fmt"
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
		if ev.Header.Timestamp > 0 {
			lagSeconds.Set(time.Since(time.Unix(int64(ev.Header.Timestamp), 0)).Seconds())
		}
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
	asRow := func(values []any) map[string]any {
		row := make(map[string]any, len(names))
		for i, v := range values {
			if i < len(names) {
				row[names[i]] = v
			}
		}
		return row
	}
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		for _, values := range e.Rows {
			binlogRows.WithLabelValues(c.Topic, "insert").Inc()
			if err := s.upsert(ctx, c, asRow(values), pos, tr.promise()); err != nil {
				return err
			}
		}
	case replication.EnumRowsEventTypeUpdate:
		for i := 0; i+1 < len(e.Rows); i += 2 {
			before, after := asRow(e.Rows[i]), asRow(e.Rows[i+1])
			binlogRows.WithLabelValues(c.Topic, "update").Inc()
			oldKey, err1 := c.mapper.key(before)
			newKey, err2 := c.mapper.key(after)
			if err1 == nil && err2 == nil && oldKey != newKey {
				// The id changed: the old key is gone (as Debezium does).
				if err := s.tombstone(ctx, c, oldKey, tr.promise()); err != nil {
					return err
				}
			}
			if err := s.upsert(ctx, c, after, pos, tr.promise()); err != nil {
				return err
			}
		}
	case replication.EnumRowsEventTypeDelete:
		for _, values := range e.Rows {
			binlogRows.WithLabelValues(c.Topic, "delete").Inc()
			row := asRow(values)
			key, err := c.mapper.key(row)
			if err != nil {
				if err := s.deadLetter(ctx, c, row, pos, err, tr.promise()); err != nil {
					return err
				}
				continue
			}
			if err := s.tombstone(ctx, c, key, tr.promise()); err != nil {
				return err
			}
		}
	}
	return nil
}
