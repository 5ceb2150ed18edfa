package mongosink

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/orderstream/pipeline/avro"
)

func TestDocument(t *testing.T) {
	email, oid := "a@example.com", "8d6e3f0a-0000-4000-8000-000000000001"
	lastAt := time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)
	ct := &avro.CustomerTotal{CustomerID: 42, CustomerName: "Ada", CustomerEmail: &email, OrderCount: 3,
		TotalAmount: rat("0.3"), LastOrderID: &oid, LastOrderAt: &lastAt, UpdatedAt: lastAt.Add(time.Second)}
	doc, err := Document("42", ct, DecimalString)
	require.NoError(t, err)
	assert.Equal(t, bson.D{
		{Key: "_id", Value: "42"},
		{Key: "customer_id", Value: int64(42)},
		{Key: "customer_name", Value: "Ada"},
		{Key: "customer_email", Value: "a@example.com"},
		{Key: "order_count", Value: int64(3)},
		{Key: "total_amount", Value: "0.30"},
		{Key: "last_order_id", Value: oid},
		{Key: "last_order_at", Value: bson.NewDateTimeFromTime(lastAt)},
		{Key: "updated_at", Value: bson.NewDateTimeFromTime(lastAt.Add(time.Second))},
	}, doc)

	doc, err = Document("42", ct, Decimal128)
	require.NoError(t, err)
	d, ok := docMap(doc)["total_amount"].(bson.Decimal128)
	require.True(t, ok, "%T", docMap(doc)["total_amount"])
	assert.Equal(t, "0.30", d.String(), "Decimal128 keeps the value and its scale")

	ct.CustomerEmail, ct.LastOrderID, ct.LastOrderAt = nil, nil, nil
	ct.TotalAmount = rat("9999999999999999.99") // decimal(18,2) at its largest
	doc, err = Document("42", ct, DecimalString)
	require.NoError(t, err)
	m := docMap(doc)
	assert.Nil(t, m["customer_email"])
	assert.Nil(t, m["last_order_id"])
	assert.Nil(t, m["last_order_at"])
	assert.Equal(t, "9999999999999999.99", m["total_amount"])
	doc, err = Document("42", ct, Decimal128)
	require.NoError(t, err)
	assert.Equal(t, "9999999999999999.99", docMap(doc)["total_amount"].(bson.Decimal128).String())

	ct.TotalAmount = rat("-1.5")
	doc, err = Document("42", ct, DecimalString)
	require.NoError(t, err)
	assert.Equal(t, "-1.50", docMap(doc)["total_amount"])

	ct.TotalAmount = rat("0.001")
	_, err = Document("42", ct, DecimalString)
	require.ErrorContains(t, err, "more than 2 decimal places", "never rounded")
	ct.TotalAmount = nil
	_, err = Document("42", ct, DecimalString)
	require.ErrorContains(t, err, "missing")
	ct.TotalAmount = rat("1")
	_, err = Document("42", ct, "float")
	require.ErrorContains(t, err, "decimal format")
}

func TestValidateKey(t *testing.T) {
	ct := &avro.CustomerTotal{CustomerID: 42}
	require.NoError(t, ValidateKey([]byte("42"), ct))
	require.NoError(t, ValidateKey([]byte("42"), nil))
	for key, want := range map[string]string{
		"x": "not a decimal row id", "": "not a decimal row id", "4 2": "not a decimal row id",
		"042": "canonical", "+42": "canonical", "43": "holds the total of customer 42",
		"99999999999999999999": "not a decimal row id",
	} {
		assert.ErrorContains(t, ValidateKey([]byte(key), ct), want, "key %q", key)
	}
	assert.ErrorContains(t, ValidateKey(nil, nil), "null")
}

func TestDecimalFormatFlag(t *testing.T) {
	var f DecimalFormat
	require.NoError(t, f.Set("decimal128"))
	assert.Equal(t, Decimal128, f)
	require.Error(t, f.Set("double"))
	assert.Equal(t, "decimal128", f.String())
}

func TestRedactURI(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb://127.0.0.1:27017/":                                                                  "mongodb://127.0.0.1:27017/",
		"mongodb://127.0.0.1:27017":                                                                   "mongodb://127.0.0.1:27017",
		"mongodb://user:p%40ss@h1:27017,h2:27017/db?replicaSet=rs0":                                   "mongodb://user:xxxxx@h1:27017,h2:27017/db?replicaSet=rs0",
		"mongodb+srv://user:secret@cluster0.abc.mongodb.net/?w=majority":                              "mongodb+srv://user:xxxxx@cluster0.abc.mongodb.net/?w=majority",
		"mongodb://user@h/?authMechanism=MONGODB-X509":                                                "mongodb://user@h/?authMechanism=MONGODB-X509",
		"mongodb://h/?tlsCertificateKeyFilePassword=pw&authMechanismProperties=AWS_SESSION_TOKEN:tok": "mongodb://h/?tlsCertificateKeyFilePassword=xxxxx&authMechanismProperties=xxxxx",
		"mongodb://u:p@ss:word@h/":                                                                    "mongodb://u:xxxxx@h/",
		"not a uri":                                                                                   "(not a mongodb:// URI)",
	} {
		assert.Equal(t, want, RedactURI(uri), uri)
	}
	err := RedactError("mongodb://u:topsecret@h/", errTest("bad uri mongodb://u:topsecret@h/"))
	assert.NotContains(t, err, "topsecret")
}

type errTest string

func (e errTest) Error() string { return string(e) }

func docMap(d bson.D) map[string]any {
	m := map[string]any{}
	for _, e := range d {
		m[e.Key] = e.Value
	}
	return m
}
