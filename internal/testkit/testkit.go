// Package testkit has what tests share: a schema registry, and the real
// infrastructure (Kafka, MariaDB) when the environment provides it.
package testkit

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderstream/pipeline/codecs"
)

// Registry returns a registry client on a fresh in-memory schema registry.
func Registry(t testing.TB) *codecs.Registry {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	require.NoError(t, err)
	return codecs.NewRegistry(cl)
}
