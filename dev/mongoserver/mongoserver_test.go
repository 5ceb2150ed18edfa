package mongoserver

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/orderstream/pipeline/internal/testkit"
)

// quietLogger collects FerretDB's warnings; printed when a test fails.
func quietLogger(t *testing.T) *slog.Logger {
	l := &testkit.Output{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FerretDB log:\n%s", l.String())
		}
	})
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// start starts a server closed at the end of the test, after the clients
// connected later are disconnected (cleanups run last first).
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	cl, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	return cl
}

func TestRestartOnSameDirAndPortKeepsData(t *testing.T) {
	testkit.Slow(t, "two FerretDB starts")
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data dir") // created by Start; a space to escape
	s, err := Start(ctx, Options{Dir: dir, Addr: "127.0.0.1:0", Logger: quietLogger(t)})
	require.NoError(t, err)
	addr := s.Addr()
	require.Equal(t, "mongodb://"+addr+"/", s.URI())

	cl := connect(t, s.URI())
	coll := cl.Database("orderstream").Collection("things")
	_, err = coll.InsertMany(ctx, []any{bson.M{"_id": "1", "n": 1}, bson.M{"_id": "2", "n": 2}})
	require.NoError(t, err)
	_, err = coll.ReplaceOne(ctx, bson.M{"_id": "2"}, bson.M{"_id": "2", "n": 20}, options.Replace().SetUpsert(true))
	require.NoError(t, err)

	// The client stays connected: Close must still return, and free the
	// port and the files.
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close is harmless")
	<-s.Done()
	_, err = os.Stat(filepath.Join(dir, "orderstream.sqlite"))
	require.NoError(t, err, "one SQLite file per database, in Dir")
	downCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = coll.CountDocuments(downCtx, bson.M{})
	require.Error(t, err, "the server is down")

	s2 := start(t, Options{Dir: dir, Addr: addr, Logger: quietLogger(t)})
	require.Equal(t, s.URI(), s2.URI())

	// The old client reconnects by itself.
	var docs []bson.M
	cur, err := coll.Find(ctx, bson.M{}, options.Find().SetSort(bson.M{"_id": 1}))
	require.NoError(t, err)
	require.NoError(t, cur.All(ctx, &docs))
	require.Len(t, docs, 2)
	assert.EqualValues(t, 1, docs[0]["n"])
	assert.EqualValues(t, 20, docs[1]["n"])
	_, err = coll.InsertOne(ctx, bson.M{"_id": "3"})
	require.NoError(t, err)
	n, err := coll.CountDocuments(ctx, bson.M{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, err = Start(context.Background(), Options{Dir: t.TempDir(), Addr: l.Addr().String()})
	require.ErrorContains(t, err, "already in use")
	require.ErrorContains(t, err, l.Addr().String())
}

func TestUnwritableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err := Start(context.Background(), Options{Dir: filepath.Join(file, "data"), Addr: "127.0.0.1:0"})
	require.ErrorContains(t, err, "data directory")

	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(t.TempDir(), "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		_, err = Start(context.Background(), Options{Dir: ro, Addr: "127.0.0.1:0"})
		require.ErrorContains(t, err, "not writable")
	}
}

func TestCancelledContextStopsTheServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{Dir: t.TempDir(), Addr: "127.0.0.1:0", Logger: quietLogger(t)})
	require.NoError(t, err)
	cancel()
	<-s.Done()
	require.NoError(t, s.Close())
	l, err := net.Listen("tcp", s.Addr())
	require.NoError(t, err, "the port is free again")
	l.Close()
}

// TestBSONTypes records what FerretDB v1.24.2 does with the types the
// MongoDB sink writes: Date round-trips at millisecond precision (as in
// MongoDB); Decimal128 is not supported at all: the server drops the
// connection (the driver sees a network error, not a write error), so exact
// decimals have to be stored as strings.
func TestBSONTypes(t *testing.T) {
	ctx := context.Background()
	s := start(t, Options{Dir: t.TempDir(), Addr: "127.0.0.1:0", Logger: quietLogger(t)})
	coll := connect(t, s.URI()).Database("d").Collection("c")

	at := time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC)
	old := time.Date(1900, 1, 1, 0, 0, 0, 1_000_000, time.UTC)
	_, err := coll.InsertOne(ctx, bson.D{
		{Key: "_id", Value: "42"}, {Key: "at", Value: bson.NewDateTimeFromTime(at)}, {Key: "old", Value: bson.NewDateTimeFromTime(old)},
		{Key: "amount", Value: "0.30"}, {Key: "count", Value: int64(7)}, {Key: "email", Value: nil},
	})
	require.NoError(t, err)
	var raw bson.Raw
	require.NoError(t, coll.FindOne(ctx, bson.M{"_id": "42"}).Decode(&raw))
	assert.Equal(t, bson.TypeDateTime, raw.Lookup("at").Type)
	assert.Equal(t, at.Truncate(time.Millisecond), raw.Lookup("at").Time().UTC(), "milliseconds kept, the rest truncated")
	assert.Equal(t, old, raw.Lookup("old").Time().UTC(), "dates before 1970")
	assert.Equal(t, "0.30", raw.Lookup("amount").StringValue(), "a decimal string keeps its scale")
	assert.Equal(t, bson.TypeInt64, raw.Lookup("count").Type)
	assert.Equal(t, bson.TypeNull, raw.Lookup("email").Type)

	d, err := bson.ParseDecimal128("0.30")
	require.NoError(t, err)
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "43"}, {Key: "amount", Value: d}})
	require.Error(t, err, "FerretDB v1 has no Decimal128; if this passes, a newer FerretDB stores it: reconsider mongosink's decimal format")
	assert.True(t, mongo.IsNetworkError(err), "the server drops the connection: %v", err)
	n, err := coll.CountDocuments(ctx, bson.M{"_id": "43"})
	require.NoError(t, err)
	assert.Zero(t, n)
}
