// Package mongoserver runs a MongoDB-wire-protocol server in process, for
// local runs and tests: FerretDB v1 embedded, with its SQLite backend and the
// data in a directory of ours. It is not a MongoDB: see the notes below
// before trusting it with something a real MongoDB would do.
//
//	mongo-driver ──► 127.0.0.1:PORT (FerretDB listener) ──► handler ──► DIR/<database>.sqlite
//
// A server can be stopped (Close) and started again on the same directory
// and address: the data persists and the port is free again, which is how
// tests simulate "MongoDB down for a while".
//
// What FerretDB v1.24.2 does differently from MongoDB (measured with
// mongo-driver v2.10.0; TestBSONTypes keeps checking the first two):
//   - BSON Decimal128 is not supported at all: a command carrying one
//     makes the server panic in that connection's goroutine ("invalid BSON
//     type wirebson.Decimal128") and drop the connection, so the driver sees
//     a network error, not a write error, and a client that retries network
//     errors retries forever. Exact decimals must be stored another way (the
//     MongoDB sink writes a decimal string).
//   - BSON Date round-trips at millisecond precision, before 1970 too, as in
//     MongoDB; int64, string and null keep their types.
//   - A lookup by _id (find, update, replace, delete with {_id: v}) scans
//     the table: the unique _id index is built on the SQLite expression
//     _ferretdb_sjson->"_id" but queries filter on _ferretdb_sjson->'$._id',
//     which SQLite does not match to the index (explain says SCAN). A replace
//     costs ~1.5 µs per document in the collection on this machine
//     (1.5 ms at 1,000, ~30 ms at 20,000). An insert checks the index, so a
//     duplicate _id is found at once.
//   - One update command (a BulkWrite of updates or replacements) that
//     matches more than ~100 existing documents hangs: each matched
//     document's query keeps a SQLite connection until the command ends, and
//     the pool has 100. Keep update batches well under 100 documents.
//   - No transactions; replacing a document with an identical one counts as
//     modified; endSessions is an unknown command (the driver sends it on
//     Disconnect and ignores the error).
//   - Close gives connected clients 3 s before it cuts them off, so closing
//     a server with clients connected takes that long.
//
// Telemetry: the embedded FerretDB never reports anything: its
// ferretdb.New disables telemetry in its (in-memory) state and starts no
// reporter, so it is offline-safe.
package mongoserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Options configure a server.
type Options struct {
	// Dir holds the data, one SQLite file per database. It is created
	// when missing; it must be writable.
	Dir string
	// Addr is the TCP address to listen on; "127.0.0.1:0" picks a free
	// port (URI says which).
	Addr string
	// Logger receives FerretDB's log lines; nil discards them. FerretDB
	// logs every connection at info level: give it a logger at warn for
	// quiet tests.
	Logger *slog.Logger
}

// Server is a running FerretDB.
type Server struct {
	uri    string
	addr   string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}

	closeOnce sync.Once
}

// Start starts a server and returns once it accepts connections. The server
// runs until Close is called or ctx is cancelled (Close then still waits for
// it to release the port and the data files).
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("mongo server: the data directory is empty")
	}
	if opts.Addr == "" {
		return nil, errors.New("mongo server: the listen address is empty (127.0.0.1:0 picks a free port)")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mongo server: %w", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("mongo server: data directory %q: %w", opts.Dir, err)
	}
	if err := checkWritableDir(dir); err != nil {
		return nil, err
	}
	if err := checkFreeAddr(opts.Addr); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	// file:///abs/dir/ : FerretDB wants a file: URI of an existing
	// directory, ending with a slash; url.URL escapes odd characters.
	sqliteURL := (&url.URL{Scheme: "file", Path: dir + "/"}).String()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: opts.Addr},
		Logger:    log,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("mongo server: listen address %s is already in use: %w", opts.Addr, err)
		}
		return nil, fmt.Errorf("mongo server: starting FerretDB (SQLite data in %s, listening on %s): %w", dir, opts.Addr, err)
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{dir: dir, cancel: cancel, done: make(chan struct{})}
	// The listener is bound by ferretdb.New already: the URI (and its
	// port) is known, and connections queue until Run accepts them.
	s.uri = f.MongoDBURI()
	u, err := url.Parse(s.uri)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mongo server: FerretDB's URI %q: %w", s.uri, err)
	}
	s.addr = u.Host
	go func() {
		defer close(s.done)
		_ = f.Run(runCtx) // returns once the listener, every connection and the SQLite databases are closed
	}()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-s.done:
		}
	}()
	log.Info("mongo server listening", "uri", s.uri, "data.dir", dir)
	return s, nil
}

// URI is the connection string, mongodb://127.0.0.1:PORT/.
func (s *Server) URI() string { return s.uri }

// Addr is the address the server listens on, host:port.
func (s *Server) Addr() string { return s.addr }

// Dir is the absolute data directory.
func (s *Server) Dir() string { return s.dir }

// Done is closed once the server has stopped and released its port and
// files.
func (s *Server) Done() <-chan struct{} { return s.done }

// Close stops accepting connections, gives connected clients up to 3 s
// (FerretDB's grace period) to finish, closes them and the SQLite
// databases, and returns once the port and the files are released. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(s.cancel)
	<-s.done
	return nil
}

// checkWritableDir creates dir when missing and checks that a file can be
// created in it, so that an unwritable directory fails at start and not at
// the first write of a client.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mongo server: creating the data directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("mongo server: data directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("mongo server: data directory %s: removing %s: %w", dir, name, err)
	}
	return nil
}

// checkFreeAddr fails when addr cannot be listened on (port taken, bad
// address), before FerretDB opens its databases: ferretdb.New does not
// close them again when its listener fails.
func checkFreeAddr(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
			return fmt.Errorf("mongo server: listen address %s is already in use (another mongo-server or MongoDB?): %w", addr, err)
		}
		return fmt.Errorf("mongo server: cannot listen on %s: %w", addr, err)
	}
	return l.Close()
}
