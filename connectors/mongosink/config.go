package mongosink

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Defaults of the MongoDB sink; the Kafka Connect configurations
// (connectors/cloud, connectors/connect) use the same names.
const (
	DefaultTopic      = "customer-totals"
	DefaultDatabase   = "orderstream"
	DefaultCollection = "customer_totals"
	DefaultGroup      = "mongo-sink"
	DefaultDLQ        = "mongo-sink-dlq"
)

// Compat is the kind of server the sink writes to, which sets the defaults
// of the knobs FerretDB needs other values for.
//
//	               decimal.format  batch.size  insert.new.keys
//	mongodb        decimal128      500         false (ReplaceOne upserts, as the connector)
//	ferretdb       string          50          true (insert first)
//
// MongoDB (Atlas included) is the default. FerretDB v1 (the dev stack's
// MongoDB, dev/mongoserver) drops the connection on a Decimal128, hangs on
// an update command matching more than ~100 existing documents, and scans
// the collection for every _id lookup: see the Options fields.
type Compat string

const (
	CompatMongoDB  Compat = "mongodb"
	CompatFerretDB Compat = "ferretdb"
)

// Set implements flag.Value.
func (c *Compat) Set(s string) error {
	switch Compat(s) {
	case CompatMongoDB, CompatFerretDB:
		*c = Compat(s)
		return nil
	case "":
		*c = CompatMongoDB
		return nil
	}
	return fmt.Errorf("want %s or %s, got %q", CompatMongoDB, CompatFerretDB, s)
}

func (c *Compat) String() string {
	if c == nil || *c == "" {
		return string(CompatMongoDB)
	}
	return string(*c)
}

// BatchSize is the default batch.size: 500 for MongoDB, what one put() of
// the connector carries (its max.batch.size is 0, all of a poll, and the
// consumer's max.poll.records is 500); 50 for FerretDB, well under the ~100
// existing documents on which one of its update commands hangs.
func (c Compat) BatchSize() int {
	if c == CompatFerretDB {
		return 50
	}
	return 500
}

// Decimal is the default decimal.format: Decimal128, what the connector
// writes, or an exact string where FerretDB cannot store Decimal128.
func (c Compat) Decimal() DecimalFormat {
	if c == CompatFerretDB {
		return DecimalString
	}
	return Decimal128
}

// InsertNewKeys is the default of insert.new.keys: ReplaceOne upserts
// only, as the connector, except on FerretDB, where a replace scans the
// collection and an insert uses the _id index.
func (c Compat) InsertNewKeys() bool { return c == CompatFerretDB }

// IsFerretDB asks the server whether it is FerretDB (its buildInfo has
// ferretdbVersion), so that a sink configured for MongoDB can refuse it
// with the fix instead of failing on its first Decimal128.
func IsFerretDB(ctx context.Context, db *mongo.Database) (bool, string, error) {
	var info bson.M
	if err := db.Client().Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, "", err
	}
	if v, ok := info["ferretdbVersion"]; ok {
		return true, fmt.Sprint(v), nil
	}
	return false, fmt.Sprint(info["version"]), nil
}
