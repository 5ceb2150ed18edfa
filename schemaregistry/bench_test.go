package schemaregistry

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderstream/pipeline/internal/testkit"
)

// BenchmarkRegistry measures, on kfake and on the real broker
// (KAFKA_BOOTSTRAP_SERVERS): a new version (two transactions on the
// journal, and the compatibility check against the latest version), a
// registration of a schema already there (answered from memory), a schema
// by id, and opening a journal of b.N versions.
//
//	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 go test -run '^$' -bench BenchmarkRegistry -benchtime 200x ./schemaregistry/
func BenchmarkRegistry(b *testing.B) {
	for _, cluster := range []string{"kfake", "kafka"} {
		b.Run(cluster, func(b *testing.B) {
			var brokers []string
			if cluster == "kfake" {
				brokers = testkit.Kfake(b)
			} else {
				brokers = testkit.RealKafka(b)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
			require.NoError(b, err)
			defer cl.Close()
			ctx := context.Background()
			topic := testkit.Unique("_schemas-bench")
			s, err := Start(ctx, "127.0.0.1:0", cl, topic, quiet())
			require.NoError(b, err)
			defer s.Close()
			c, err := sr.NewClient(sr.URLs(s.URL()))
			require.NoError(b, err)
			version := func(i int) sr.Schema { // each one more optional field: BACKWARD compatible
				fields := `{"name":"id","type":"long"}`
				for j := range i {
					fields += fmt.Sprintf(`,{"name":"f%d","type":["null","string"],"default":null}`, j)
				}
				return avroSchema(`{"type":"record","name":"R","fields":[` + fields + `]}`)
			}
			b.Run("new-version", func(b *testing.B) {
				for i := range b.N {
					_, err := c.RegisterSchema(ctx, "bench-value", version(i%200), -1, -1)
					require.NoError(b, err)
				}
			})
			b.Run("existing", func(b *testing.B) {
				for range b.N {
					_, err := c.RegisterSchema(ctx, "bench-value", version(0), -1, -1)
					require.NoError(b, err)
				}
			})
			b.Run("by-id", func(b *testing.B) {
				for range b.N {
					_, err := c.SchemaByID(ctx, 1)
					require.NoError(b, err)
				}
			})
			b.Run("open", func(b *testing.B) {
				for range b.N {
					r, err := Open(ctx, Options{Kafka: cl.Opts(), Topic: topic, Logger: quiet()})
					require.NoError(b, err)
					require.NoError(b, r.Close())
				}
			})
		})
	}
}
