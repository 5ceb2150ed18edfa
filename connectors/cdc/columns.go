package cdc

import (
	"database/sql"
	"fmt"
	"strings"

	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// column is a captured table's column as the binlog's table-map event (or,
// for a snapshot, the result set) describes it, with the Avro type a field
// for it gets when the table's schema evolves.
type column struct {
	name    string
	sqlType string // for messages: "VARCHAR", "INT UNSIGNED", "DECIMAL(10,2)"
	// avro is the Avro type (JSON) of the column's values, without null:
	// what Debezium's Connect type for the column (decimal.handling.mode=
	// precise, time.precision.mode=connect) becomes under the Avro
	// converter. Empty: a type the source does not map (TIME, BIT,
	// GEOMETRY, VECTOR).
	avro string
	// value, when set, turns the binlog decoder's value into the column's
	// value (ENUM and SET arrive as their index and bit set).
	value func(any) (any, error)
}

// Avro types of the column types.
const (
	avroInt       = `"int"`
	avroLong      = `"long"`
	avroFloat     = `"float"`
	avroDouble    = `"double"`
	avroString    = `"string"`
	avroBytes     = `"bytes"`
	avroTimestamp = `{"type":"long","logicalType":"timestamp-millis"}`
	avroDate      = `{"type":"int","logicalType":"date"}`
)

func avroDecimal(precision, scale int) string {
	return fmt.Sprintf(`{"type":"bytes","logicalType":"decimal","precision":%d,"scale":%d}`, precision, scale)
}

// binaryCollation is the collation id of binary strings (BINARY,
// VARBINARY, BLOB).
const binaryCollation = 63

// tableMapColumns describes the columns of a binlog table-map event
// (binlog_row_metadata=FULL: names, signedness, collations, ENUM and SET
// values).
func tableMapColumns(e *replication.TableMapEvent) []column {
	names := e.ColumnNameString()
	unsigned := e.UnsignedMap()
	collations := e.CollationMap()
	enums := e.EnumStrValueMap()
	sets := e.SetStrValueMap()
	cols := make([]column, len(names))
	for i, name := range names {
		c := column{name: name}
		meta := e.ColumnMeta[i]
		text := func(kind string) {
			if collations[i] == binaryCollation {
				c.sqlType, c.avro = strings.NewReplacer("CHAR", "BINARY", "TEXT", "BLOB").Replace(kind), avroBytes
			} else {
				c.sqlType, c.avro = kind, avroString
			}
		}
		switch t := e.ColumnType[i]; {
		case e.IsEnumColumn(i):
			c.sqlType, c.avro, c.value = "ENUM", avroString, enumValue(enums[i])
		case e.IsSetColumn(i):
			c.sqlType, c.avro, c.value = "SET", avroString, setValue(sets[i])
		case t == gmysql.MYSQL_TYPE_TINY:
			c.sqlType, c.avro = "TINYINT", avroInt
		case t == gmysql.MYSQL_TYPE_SHORT:
			c.sqlType, c.avro = "SMALLINT", avroInt
		case t == gmysql.MYSQL_TYPE_INT24:
			c.sqlType, c.avro = "MEDIUMINT", avroInt
		case t == gmysql.MYSQL_TYPE_LONG:
			c.sqlType, c.avro = "INT", avroInt
			if unsigned[i] {
				c.avro = avroLong
			}
		case t == gmysql.MYSQL_TYPE_LONGLONG:
			c.sqlType, c.avro = "BIGINT", avroLong
		case t == gmysql.MYSQL_TYPE_YEAR:
			c.sqlType, c.avro = "YEAR", avroInt
		case t == gmysql.MYSQL_TYPE_FLOAT:
			c.sqlType, c.avro = "FLOAT", avroFloat
		case t == gmysql.MYSQL_TYPE_DOUBLE:
			c.sqlType, c.avro = "DOUBLE", avroDouble
		case t == gmysql.MYSQL_TYPE_NEWDECIMAL:
			p, s := int(meta>>8), int(meta&0xff)
			c.sqlType, c.avro = fmt.Sprintf("DECIMAL(%d,%d)", p, s), avroDecimal(p, s)
		case t == gmysql.MYSQL_TYPE_VARCHAR || t == gmysql.MYSQL_TYPE_VAR_STRING:
			text("VARCHAR")
		case t == gmysql.MYSQL_TYPE_STRING:
			text("CHAR")
		case t == gmysql.MYSQL_TYPE_BLOB:
			text("TEXT") // MariaDB's JSON is a LONGTEXT
		case t == gmysql.MYSQL_TYPE_JSON:
			c.sqlType, c.avro = "JSON", avroString
		case t == gmysql.MYSQL_TYPE_DATETIME || t == gmysql.MYSQL_TYPE_DATETIME2:
			c.sqlType, c.avro = "DATETIME", avroTimestamp
		case t == gmysql.MYSQL_TYPE_DATE || t == gmysql.MYSQL_TYPE_NEWDATE:
			c.sqlType, c.avro = "DATE", avroDate
		case t == gmysql.MYSQL_TYPE_TIMESTAMP || t == gmysql.MYSQL_TYPE_TIMESTAMP2:
			c.sqlType, c.avro = "TIMESTAMP", avroString // Debezium's ZonedTimestamp
		case t == gmysql.MYSQL_TYPE_TIME || t == gmysql.MYSQL_TYPE_TIME2:
			c.sqlType = "TIME"
		case t == gmysql.MYSQL_TYPE_BIT:
			c.sqlType = "BIT"
		case t == gmysql.MYSQL_TYPE_GEOMETRY:
			c.sqlType = "GEOMETRY"
		default:
			c.sqlType = fmt.Sprintf("binlog type %d", t)
		}
		if unsigned[i] && c.sqlType != "YEAR" {
			c.sqlType += " UNSIGNED"
		}
		cols[i] = c
	}
	return cols
}

// resultColumns describes the columns of a snapshot's SELECT *.
func resultColumns(types []*sql.ColumnType) []column {
	cols := make([]column, len(types))
	for i, t := range types {
		c := column{name: t.Name(), sqlType: t.DatabaseTypeName()}
		name, unsigned := strings.CutPrefix(c.sqlType, "UNSIGNED ")
		switch name {
		case "TINYINT", "SMALLINT", "MEDIUMINT", "YEAR":
			c.avro = avroInt
		case "INT":
			c.avro = avroInt
			if unsigned {
				c.avro = avroLong
			}
		case "BIGINT":
			c.avro = avroLong
		case "FLOAT":
			c.avro = avroFloat
		case "DOUBLE":
			c.avro = avroDouble
		case "DECIMAL":
			if p, s, ok := t.DecimalSize(); ok {
				c.sqlType, c.avro = fmt.Sprintf("DECIMAL(%d,%d)", p, s), avroDecimal(int(p), int(s))
			}
		case "CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "JSON", "ENUM", "SET":
			c.avro = avroString
		case "BINARY", "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB":
			c.avro = avroBytes
		case "DATETIME":
			c.avro = avroTimestamp
		case "DATE":
			c.avro = avroDate
		case "TIMESTAMP":
			c.avro = avroString
		}
		if unsigned {
			c.sqlType = name + " UNSIGNED"
		}
		cols[i] = c
	}
	return cols
}

// enumValue maps an ENUM's index (1-based; 0 is the empty string MySQL
// stores for an invalid value) to its text.
func enumValue(values []string) func(any) (any, error) {
	return func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		i, err := toInt(v)
		if err != nil {
			return nil, err
		}
		switch {
		case i == 0:
			return "", nil
		case i > 0 && int(i) <= len(values):
			return values[i-1], nil
		}
		return nil, fmt.Errorf("ENUM index %d, the column has %d values", i, len(values))
	}
}

// setValue maps a SET's bits to its members, comma separated, as MySQL
// (and Debezium) writes them.
func setValue(values []string) func(any) (any, error) {
	return func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		bits, err := toInt(v)
		if err != nil {
			return nil, err
		}
		var out []string
		for i, m := range values {
			if bits&(1<<i) != 0 {
				out = append(out, m)
			}
		}
		if bits>>len(values) != 0 {
			return nil, fmt.Errorf("SET bits %b, the column has %d members", bits, len(values))
		}
		return strings.Join(out, ","), nil
	}
}
