package config

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/IBM/sarama"
)

// Log is the logging configuration.
type Log struct {
	Level  string
	Format string
}

// RegisterFlags adds the logging flags to fs.
func (l *Log) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&l.Level, "log.level", "info", "debug, info, warn or error")
	fs.StringVar(&l.Format, "log.format", "text", "text or json")
}

// Logger builds the slog logger, makes it the default, and routes sarama's
// own log lines to it at debug level.
func (l *Log) Logger(service string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("log.level %q: %w", l.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(l.Format) {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("log.format %q: want text or json", l.Format)
	}
	log := slog.New(h).With("service", service)
	slog.SetDefault(log)
	sarama.Logger = GokaLogger(log.With("component", "sarama"), slog.LevelDebug)
	return log, nil
}

// GokaLogger adapts slog to the Print-style logger Goka and sarama take.
func GokaLogger(log *slog.Logger, level slog.Level) *PrintLogger {
	return &PrintLogger{log: log, level: level}
}

// PrintLogger implements goka.Logger and sarama.StdLogger on slog.
type PrintLogger struct {
	log   *slog.Logger
	level slog.Level
}

func (p *PrintLogger) Print(v ...any) { p.emit(fmt.Sprint(v...)) }
func (p *PrintLogger) Println(v ...any) {
	p.emit(strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
func (p *PrintLogger) Printf(format string, v ...any) { p.emit(fmt.Sprintf(format, v...)) }

func (p *PrintLogger) emit(msg string) {
	p.log.Log(nil, p.level, strings.TrimSpace(msg)) //nolint:staticcheck // no context in a Print call
}

// MinLevel returns log without the records below level: for libraries that
// log routine events at info or warn (go-mysql's reconnects, FerretDB's
// unknown commands).
func MinLevel(log *slog.Logger, level slog.Level) *slog.Logger {
	return slog.New(minLevel{log.Handler(), level})
}

type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.level}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.level} }
