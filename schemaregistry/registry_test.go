package schemaregistry

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/internal/testkit"
)

func TestSchemaIDsSurviveARestart(t *testing.T) {
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(testkit.Kfake(t)...))
	require.NoError(t, err)
	defer cl.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	r, err := Start(ctx, "127.0.0.1:0", cl, DefaultTopic, log)
	require.NoError(t, err)
	client, err := sr.NewClient(sr.URLs(r.URL()))
	require.NoError(t, err)
	ids := map[string]int{}
	for subject, schema := range map[string]string{
		"orders-value": avro.OrderSchema, "order-details-value": avro.OrderDetailsSchema,
		"orders-details-retry-value": avro.OrderDetailsSchema, // same schema, second subject
		"customers-value":            avro.CustomerSchema,
	} {
		ids[subject], err = client.RegisterSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro}, -1, -1)
		require.NoError(t, err)
	}
	assert.Equal(t, ids["order-details-value"], ids["orders-details-retry-value"])
	// Registering again changes nothing.
	again, err := client.RegisterSchema(ctx, "orders-value", sr.Schema{Schema: avro.OrderSchema, Type: sr.TypeAvro}, -1, -1)
	require.NoError(t, err)
	assert.Equal(t, ids["orders-value"], again)
	require.NoError(t, r.Close())

	r, err = Start(ctx, "127.0.0.1:0", cl, DefaultTopic, log)
	require.NoError(t, err)
	defer r.Close()
	client, err = sr.NewClient(sr.URLs(r.URL()))
	require.NoError(t, err)
	for subject, id := range ids {
		s, err := client.SchemaByID(ctx, id)
		require.NoError(t, err, subject)
		assert.NotEmpty(t, s.Schema)
		got, err := client.RegisterSchema(ctx, subject, s, -1, -1)
		require.NoError(t, err)
		assert.Equal(t, id, got, "%s keeps its id", subject)
	}
	// A new schema after the restart gets a new id.
	next, err := client.RegisterSchema(ctx, "products-value", sr.Schema{Schema: avro.ProductSchema, Type: sr.TypeAvro}, -1, -1)
	require.NoError(t, err)
	for _, id := range ids {
		assert.NotEqual(t, id, next)
	}
}
