// Package config turns flags and environment variables into the clients every
// binary of the pipeline needs: sarama (through Goka), the schema registry
// and the logger.
//
// Flag names mirror Kafka and Confluent property names where one exists
// (bootstrap.servers, security.protocol, sasl.mechanism, schema.registry.url,
// basic.auth.user.info, ...). Every flag can also come from the environment:
// upper case, dots and dashes as underscores (BOOTSTRAP_SERVERS,
// SCHEMA_REGISTRY_URL, SASL_PASSWORD, ...). A flag given on the command line
// wins over the environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
}

// Parse parses args into fs, then fills every flag not given on the command
// line from its environment variable.
//
// A flag error is returned, not printed: the flag package would print it
// and the whole usage, and the main prints the error again. --help prints
// the usage and returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return fmt.Errorf("%w (%s --help lists the flags)", err, fs.Name())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s=%q: %w", EnvName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// Usage prints the flags with their environment variables.
func Usage(fs *flag.FlagSet, about string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nUsage: %s [flags]\n\nEvery flag can also be set by the environment variable shown in brackets.\n\n", about, fs.Name())
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s %s [%s]\n    \t%s", f.Name, name, EnvName(f.Name), strings.ReplaceAll(usage, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(out, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(out)
		})
	}
}

// millis is a flag.Value for Kafka's *.ms properties: a whole number of
// milliseconds as Kafka takes it ("5000"), or a Go duration ("5s").
type millis struct{ d *time.Duration }

// DurationMs adds a flag in Kafka's milliseconds style for a duration.
func DurationMs(fs *flag.FlagSet, d *time.Duration, name string, value time.Duration, usage string) {
	*d = value
	fs.Var(millis{d}, name, usage)
}

func (m millis) String() string {
	if m.d == nil {
		return ""
	}
	return strconv.FormatInt(m.d.Milliseconds(), 10)
}

func (m millis) Set(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*m.d = time.Duration(n) * time.Millisecond
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want milliseconds (5000) or a duration (5s): %q", s)
	}
	*m.d = d
	return nil
}
