// Command mongo-server is a MongoDB-compatible server for development and
// tests: FerretDB v1 embedded, data in SQLite files under --data.dir. Not
// for production; see package dev/mongoserver for what it does
// differently from MongoDB. --help for the flags.
package main

import (
	"flag"
	"log/slog"
	"os"

	"github.com/orderstream/pipeline/dev/mongoserver"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/services/frame"
)

func main() { frame.Exit("mongo-server", Main(os.Args[1:])) }

// Main runs the server with args until SIGINT/SIGTERM.
func Main(args []string) error {
	fs := flag.NewFlagSet("mongo-server", flag.ContinueOnError)
	fs.Usage = config.Usage(fs, "mongo-server: a MongoDB wire-protocol server for development (FerretDB v1 with SQLite); not for production.")
	dir := fs.String("data.dir", ".data/mongo", "directory of the data (one SQLite file per database); created when missing")
	addr := fs.String("listen.addr", "127.0.0.1:27017", "TCP address to listen on (port 0 picks a free one)")
	var l config.Log
	l.RegisterFlags(fs)
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	log, err := l.Logger("mongo-server")
	if err != nil {
		return err
	}
	ctx, stop := run.SignalContext()
	defer stop()

	// FerretDB logs every connection at info: keep its lines at warn and
	// above unless debugging.
	flog := config.MinLevel(log, slog.LevelWarn)
	if log.Enabled(ctx, slog.LevelDebug) {
		flog = log
	}
	srv, err := mongoserver.Start(ctx, mongoserver.Options{Dir: *dir, Addr: *addr, Logger: flog.With("component", "ferretdb")})
	if err != nil {
		return err
	}
	log.Info("serving; stop with SIGINT or SIGTERM", "uri", srv.URI(), "data.dir", srv.Dir())
	<-ctx.Done()
	err = srv.Close()
	log.Info("stopped")
	return err
}
