package mongosink

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
)

// TestDefaultsAreMongoDBs: what the MongoDB connector writes by default
// (Decimal128, ReplaceOne upserts; commands of 500); FerretDB's
// workarounds only with CompatFerretDB; a knob given wins over either.
func TestDefaultsAreMongoDBs(t *testing.T) {
	codec, err := codecs.NewAvro[avro.CustomerTotal](context.Background(), testkit.Registry(t), "t-value", avro.CustomerTotalSchema)
	require.NoError(t, err)
	cl, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1")) // not dialled
	require.NoError(t, err)
	coll := cl.Database("d").Collection("c")
	base := Options{Topic: "t", DeadLetterTopic: "t-dlq", Group: "g", Codec: codec, Collection: coll}

	s, err := New(base)
	require.NoError(t, err)
	assert.Equal(t, CompatMongoDB, s.opts.Compat)
	assert.Equal(t, Decimal128, s.opts.Decimal)
	assert.Equal(t, 500, s.opts.BatchSize)
	assert.False(t, *s.opts.InsertNewKeys, "ReplaceOne upserts only, as the connector")

	o := base
	o.Compat = CompatFerretDB
	s, err = New(o)
	require.NoError(t, err)
	assert.Equal(t, DecimalString, s.opts.Decimal)
	assert.Equal(t, 50, s.opts.BatchSize)
	assert.True(t, *s.opts.InsertNewKeys)

	no := false
	o.BatchSize, o.Decimal, o.InsertNewKeys = 20, Decimal128, &no
	s, err = New(o)
	require.NoError(t, err)
	assert.Equal(t, Decimal128, s.opts.Decimal)
	assert.Equal(t, 20, s.opts.BatchSize)
	assert.False(t, *s.opts.InsertNewKeys)

	o = base
	o.Compat = "cosmosdb"
	_, err = New(o)
	assert.ErrorContains(t, err, "want mongodb or ferretdb")
}

func TestIsFerretDB(t *testing.T) {
	testkit.Slow(t, "an embedded FerretDB")
	srv := startMongo(t)
	ferret, version, err := IsFerretDB(context.Background(), mongoClient(t, srv.URI()).Database("orderstream"))
	require.NoError(t, err)
	assert.True(t, ferret)
	assert.NotEmpty(t, version)
}
