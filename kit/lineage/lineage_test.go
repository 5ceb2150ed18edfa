package lineage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/lineage"
)

func TestCheckRecordsThenTellsWhatChanged(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(testkit.Kfake(t)...))
	require.NoError(t, err)
	defer cl.Close()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	for _, tp := range []struct {
		name string
		n    int32
	}{{"in", 6}, {"table", 6}, {"g-lineage", 1}} {
		_, err := adm.CreateTopic(ctx, tp.n, 1, nil, tp.name)
		require.NoError(t, err)
	}
	s := lineage.Store{Client: cl, Topic: "g-lineage"}
	watch := []lineage.Watch{{Topic: "in", Partitions: true}, {Topic: "table", ID: true, Partitions: true}}

	rec, _, err := s.Check(ctx, "g", "test", watch)
	require.NoError(t, err, "the first check records the topics")
	require.Len(t, rec.Sources, 2)
	assert.NotEmpty(t, rec.Sources[1].ID)
	_, _, err = s.Check(ctx, "g", "test", watch)
	require.NoError(t, err, "nothing changed")

	_, err = adm.CreatePartitions(ctx, 2, "in")
	require.NoError(t, err)
	_, _, err = s.Check(ctx, "g", "test", watch)
	var ch *lineage.Changed
	require.True(t, errors.As(err, &ch), "%v", err)
	assert.ErrorContains(t, err, "in had 6 partitions, now 8")

	// What is not watched may change: the record follows it.
	idOnly := []lineage.Watch{{Topic: "in", ID: true}}
	_, _, err = s.Check(ctx, "h", "test", idOnly)
	require.NoError(t, err)
	_, err = adm.CreatePartitions(ctx, 1, "in")
	require.NoError(t, err)
	rec, _, err = s.Check(ctx, "h", "test", idOnly)
	require.NoError(t, err)
	assert.Equal(t, int32(9), rec.Sources[0].Partitions)
	loaded, err := s.Load(ctx, "h")
	require.NoError(t, err)
	assert.Equal(t, int32(9), loaded.Sources[0].Partitions, "saved")
}
