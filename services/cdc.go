package services

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/connectors/cdc"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/services/frame"
)

// CDC is the cdc-source service.
type CDC struct {
	Options  cdc.Options
	database string
	mask     string
	serverID uint
	reset    bool
}

// RegisterFlags adds the service's flags, defaults included.
func (c *CDC) RegisterFlags(fs *flag.FlagSet) {
	o := &c.Options
	o.Tables = append([]cdc.Table(nil), cdc.DefaultTables...)
	fs.StringVar(&o.Name, "name", "cdc-source", "connector name: the key of its position in the offsets topic")
	fs.StringVar(&o.DSN, "mysql.dsn", "orderstream:orderstream@tcp(127.0.0.1:13306)/shop", "MySQL DSN (go-sql-driver format) of a user with SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT")
	fs.UintVar(&c.serverID, "database.server.id", 0, "replica server id, unique among the server's replicas (0: random in 5400-6399)")
	fs.StringVar(&c.database, "database", cdc.DefaultDatabase, "the captured database")
	for i := range o.Tables {
		t := &o.Tables[i]
		fs.StringVar(&t.Topic, "topic."+t.Name, t.Topic, "topic of table "+t.Name)
	}
	fs.StringVar(&c.mask, "mask.fields", "customers.credit_card", "columns to mask, as table.column, comma separated (Kafka Connect MaskField$Value)")
	fs.StringVar(&o.MaskReplacement, "mask.replacement", cdc.DefaultMaskReplacement, "what a masked column's value becomes (NULL stays NULL)")
	fs.StringVar(&o.OffsetsTopic, "offsets.topic", cdc.DefaultOffsetsTopic, "compacted topic keeping the binlog position")
	fs.StringVar(&o.DeadLetterTopic, "topic.dlq", "cdc-source-dlq", "dead-letter topic for rows that do not fit their schema")
	fs.StringVar(&o.SnapshotMode, "snapshot.mode", cdc.SnapshotInitial, "initial: snapshot when there is no stored position; when_needed: also when the stored position was purged")
	config.DurationMs(fs, &o.OffsetFlushInterval, "offset.flush.interval.ms", time.Second, "how often the acknowledged position is saved")
	fs.BoolVar(&c.reset, "reset.offsets", false, "forget the stored position before starting: take a new snapshot")
	fs.StringVar(&o.SchemaEvolution, "schema.evolution", cdc.EvolveSchema, "a column the topic's schema does not know: evolve (a new optional field, a new backward-compatible schema version) or fail (stop, naming table and column)")
	config.DurationMs(fs, &o.HeartbeatInterval, "binlog.heartbeat.interval.ms", 10*time.Second, "how often an idle server sends a heartbeat (keeps the connection alive; the binlog lag is 0 once one says everything is read)")
}

// settle applies the flags that shape the tables.
func (c *CDC) settle() error {
	o := &c.Options
	o.ServerID = uint32(c.serverID)
	for i := range o.Tables {
		o.Tables[i].Database = c.database
		o.Tables[i].Mask = nil
	}
	for _, m := range strings.Split(c.mask, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		table, col, ok := strings.Cut(m, ".")
		found := false
		for i := range o.Tables {
			if ok && o.Tables[i].Name == table {
				o.Tables[i].Mask = append(o.Tables[i].Mask, col)
				found = true
			}
		}
		if !found {
			return &run.Permanent{Err: fmt.Errorf("mask.fields: %q is not table.column of a captured table (customers, products)", m)}
		}
	}
	return nil
}

// Groups: the source consumes nothing through a group.
func (c *CDC) Groups() []string { return nil }

// Run captures changes until ctx ends.
func (c *CDC) Run(ctx context.Context, env *frame.Env) error {
	if err := c.settle(); err != nil {
		return err
	}
	opts := c.Options
	opts.Logger = env.Log
	opts.OnCapturing = env.Ready
	cl, err := env.KafkaClient(kgo.MaxBufferedRecords(50_000))
	if err != nil {
		return err
	}
	defer cl.Close()

	specs := []topics.Spec{{Name: opts.OffsetsTopic, Partitions: 1, Compacted: true}, {Name: opts.DeadLetterTopic}}
	for _, t := range opts.Tables {
		specs = append(specs, topics.Spec{Name: t.Topic, Compacted: true})
	}
	if err := env.EnsureTopics(ctx, specs); err != nil {
		return err
	}
	src, err := cdc.New(ctx, opts, cl, env.Registry)
	if err != nil {
		return err
	}
	defer src.Close()
	if c.reset {
		if err := src.ResetOffset(ctx); err != nil {
			return err
		}
		c.reset = false // once, not at every restart
		env.Log.Info("stored position forgotten; taking a new snapshot")
	}
	return src.Run(ctx)
}
