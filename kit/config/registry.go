package config

import (
	"flag"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
)

// Registry is the schema registry configuration.
type Registry struct {
	URL               string
	BasicAuthUserInfo string
	AutoRegister      bool
}

// RegisterFlags adds the schema registry flags to fs.
func (r *Registry) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&r.URL, "schema.registry.url", "http://127.0.0.1:8081", "Confluent Schema Registry URL")
	fs.StringVar(&r.BasicAuthUserInfo, "basic.auth.user.info", "", "registry credentials as KEY:SECRET (Confluent Cloud: the Schema Registry API key and secret)")
	fs.BoolVar(&r.AutoRegister, "auto.register.schemas", true, "register our schemas; when false they must already be registered")
}

// Client returns a schema registry client for the URL and credentials.
// (AutoRegister is for the codecs that use the client: see codecs.Registry.)
func (r *Registry) Client() (*sr.Client, error) {
	opts := []sr.ClientOpt{sr.URLs(strings.Split(r.URL, ",")...), sr.UserAgent("orderstream")}
	if r.BasicAuthUserInfo != "" {
		user, pass, ok := strings.Cut(r.BasicAuthUserInfo, ":")
		if !ok {
			return nil, fmt.Errorf("basic.auth.user.info: want KEY:SECRET")
		}
		opts = append(opts, sr.BasicAuth(user, pass))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry client: %w", err)
	}
	return cl, nil
}
