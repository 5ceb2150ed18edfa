package cdc

import "github.com/orderstream/pipeline/avro"

// Table says how one captured table becomes a topic: what the Debezium
// connector plus its SMT chain (connectors/cloud, connectors/connect) do for
// that table, as settings.
type Table struct {
	Database  string   // shop
	Name      string   // customers
	Topic     string   // the topic its rows go to
	KeyColumn string   // the row id, written as the record key (ValueToKey + ExtractField$Key)
	Schema    string   // the Avro record the rows become (SetSchemaMetadata$Value names it)
	Mask      []string // columns replaced by MaskReplacement before they leave the process (MaskField$Value)
}

// DefaultMaskReplacement replaces a masked column's value; the Kafka Connect
// configurations set MaskField's "replacement" to the same string.
const DefaultMaskReplacement = "****"

// DefaultOffsetsTopic is the compacted topic where the source keeps its
// binlog position, like Kafka Connect's connect-offsets.
const DefaultOffsetsTopic = "cdc-source-offsets"

// DefaultDatabase is the captured database.
const DefaultDatabase = "shop"

// DefaultTables are the two tables of the pipeline: customers with its
// card number masked, products as is.
var DefaultTables = []Table{
	{Database: DefaultDatabase, Name: "customers", Topic: "customers", KeyColumn: "id", Schema: avro.CustomerSchema, Mask: []string{"credit_card"}},
	{Database: DefaultDatabase, Name: "products", Topic: "products", KeyColumn: "id", Schema: avro.ProductSchema},
}
