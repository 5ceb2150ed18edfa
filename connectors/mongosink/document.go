package mongosink

import (
	"fmt"
	"math/big"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
)

// DecimalFormat is how total_amount (Avro decimal(18,2)) is stored.
type DecimalFormat string

const (
	// DecimalString stores the exact decimal as a string with its scale,
	// "12.30". The default: FerretDB v1 cannot store Decimal128 (it drops
	// the connection on one, see dev/mongoserver), and a string is
	// the only exact representation every MongoDB-compatible server keeps.
	DecimalString DecimalFormat = "string"
	// Decimal128 stores BSON Decimal128, what the MongoDB Kafka connector
	// writes for a Connect Decimal: use it against a real MongoDB (Atlas)
	// when queries should do arithmetic on the amount.
	Decimal128 DecimalFormat = "decimal128"
)

// Set implements flag.Value.
func (f *DecimalFormat) Set(s string) error {
	switch DecimalFormat(s) {
	case DecimalString, Decimal128:
		*f = DecimalFormat(s)
		return nil
	}
	return fmt.Errorf("want %s or %s, got %q", DecimalString, Decimal128, s)
}

func (f *DecimalFormat) String() string {
	if f == nil {
		return ""
	}
	return string(*f)
}

// totalScale is the scale of CustomerTotal.total_amount (decimal(18,2)).
const totalScale = 2

// Document is the MongoDB document of one customer total: _id is the record
// key (ProvidedInKeyStrategy after HoistField$Key), the other fields are the
// Avro fields under their Avro names, in schema order. Times are BSON Dates
// (millisecond precision, like timestamp-millis); nullable fields are null
// when absent, as the connector writes them.
func Document(key string, t *avro.CustomerTotal, format DecimalFormat) (bson.D, error) {
	amount, err := decimalValue(t.TotalAmount, format)
	if err != nil {
		return nil, err
	}
	return bson.D{
		{Key: "_id", Value: key},
		{Key: "customer_id", Value: t.CustomerID},
		{Key: "customer_name", Value: t.CustomerName},
		{Key: "customer_email", Value: nullable(t.CustomerEmail)},
		{Key: "order_count", Value: t.OrderCount},
		{Key: "total_amount", Value: amount},
		{Key: "last_order_id", Value: nullable(t.LastOrderID)},
		{Key: "last_order_at", Value: nullableTime(t.LastOrderAt)},
		{Key: "updated_at", Value: bson.NewDateTimeFromTime(t.UpdatedAt)},
	}, nil
}

// ValidateKey checks that key is a customer id written by codecs.Key
// ("42"; not "042", "+42" or " 42", which would make a second document
// for the same customer) and that the value, if any, is that customer's.
func ValidateKey(key []byte, t *avro.CustomerTotal) error {
	if key == nil {
		return fmt.Errorf("record key is null, want a customer id")
	}
	id, err := codecs.ParseKey(string(key))
	if err != nil {
		return err
	}
	if codecs.Key(id) != string(key) {
		return fmt.Errorf("record key %q is not in canonical form %q", key, codecs.Key(id))
	}
	if t != nil && t.CustomerID != id {
		return fmt.Errorf("record key %q holds the total of customer %d", key, t.CustomerID)
	}
	return nil
}

// decimalString formats r with exactly scale digits after the point,
// failing when r has more (it would be rounded).
func decimalString(r *big.Rat, scale int) (string, error) {
	if r == nil {
		return "", fmt.Errorf("total_amount is missing")
	}
	shifted := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !shifted.IsInt() {
		return "", fmt.Errorf("total_amount %s has more than %d decimal places", r.RatString(), scale)
	}
	return r.FloatString(scale), nil
}

func decimalValue(r *big.Rat, format DecimalFormat) (any, error) {
	s, err := decimalString(r, totalScale)
	if err != nil {
		return nil, err
	}
	switch format {
	case Decimal128:
		d, err := bson.ParseDecimal128(s)
		if err != nil {
			return nil, fmt.Errorf("total_amount %s as Decimal128: %w", s, err)
		}
		return d, nil
	case DecimalString, "":
		return s, nil
	}
	return nil, fmt.Errorf("decimal format %q: want %s or %s", format, DecimalString, Decimal128)
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func nullableTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return bson.NewDateTimeFromTime(*t)
}
