package codecs_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
)

func newRegistry(t *testing.T) (*codecs.Registry, *sr.Client) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	require.NoError(t, err)
	return codecs.NewRegistry(cl), cl
}

func ptr[T any](v T) *T { return &v }

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

var when = time.Date(2026, 11, 25, 12, 30, 45, 123_000_000, time.UTC)

// frame encodes v with schema text under id, the way another producer would.
func frame(t *testing.T, id int, schema string, v any) []byte {
	t.Helper()
	s, err := tavro.Parse(schema)
	require.NoError(t, err)
	b := binary.BigEndian.AppendUint32([]byte{0}, uint32(id))
	b, err = s.AppendEncode(b, v)
	require.NoError(t, err)
	return b
}

func register(t *testing.T, cl *sr.Client, subject, schema string) int {
	t.Helper()
	id, err := cl.RegisterSchema(context.Background(), subject, sr.Schema{Schema: schema, Type: sr.TypeAvro}, -1, -1)
	require.NoError(t, err)
	return id
}

func TestRoundTripEveryType(t *testing.T) {
	reg, _ := newRegistry(t)
	ctx := context.Background()

	t.Run("Order", func(t *testing.T) {
		c, err := codecs.NewAvro[avro.Order](ctx, reg, "orders-value", avro.OrderSchema)
		require.NoError(t, err)
		in := &avro.Order{OrderID: "2b0d7b3d-6c2b-4f7a-9a8e-0c6c1d1b9f00", CustomerID: 42, ProductID: 7, Quantity: 3, UnitPrice: rat("19.99"), CreatedAt: when}
		b, err := c.Encode(in)
		require.NoError(t, err)
		assert.Equal(t, byte(0), b[0])
		assert.Equal(t, uint32(c.SchemaID()), binary.BigEndian.Uint32(b[1:5]))
		got, err := c.DecodeValue(b)
		require.NoError(t, err)
		assert.Equal(t, in.OrderID, got.OrderID)
		assert.Equal(t, in.Quantity, got.Quantity)
		assert.Equal(t, "19.99", got.UnitPrice.FloatString(2))
		assert.True(t, in.CreatedAt.Equal(got.CreatedAt))
	})
	t.Run("Customer with NULLs and utf8mb4", func(t *testing.T) {
		c, err := codecs.NewAvro[avro.Customer](ctx, reg, "customers-value", avro.CustomerSchema)
		require.NoError(t, err)
		in := &avro.Customer{ID: 1, FirstName: "Zoë", LastName: "Ørsted 😀", Email: "z@example.com", CreditCard: ptr("****************"), CreatedAt: when, UpdatedAt: when}
		b, err := c.Encode(in)
		require.NoError(t, err)
		got, err := c.DecodeValue(b)
		require.NoError(t, err)
		assert.Equal(t, "Ørsted 😀", got.LastName)
		assert.Nil(t, got.Phone)
		assert.Equal(t, "****************", *got.CreditCard)
	})
	t.Run("OrderDetails enum", func(t *testing.T) {
		c, err := codecs.NewAvro[avro.OrderDetails](ctx, reg, "order-details-value", avro.OrderDetailsSchema)
		require.NoError(t, err)
		in := &avro.OrderDetails{OrderID: "2b0d7b3d-6c2b-4f7a-9a8e-0c6c1d1b9f00", CustomerID: 1, ProductID: 2, Quantity: 2,
			UnitPrice: rat("0.10"), LineTotal: rat("0.20"), CreatedAt: when, Status: avro.OrderDetailsStatusRetrying,
			Reason: ptr("customer 1 not found"), SourcePartition: 3, SourceOffset: 99, Attempt: 1}
		b, err := c.Encode(in)
		require.NoError(t, err)
		got, err := c.DecodeValue(b)
		require.NoError(t, err)
		assert.Equal(t, avro.OrderDetailsStatusRetrying, got.Status)
		assert.Equal(t, 0, got.LineTotal.Cmp(rat("0.2")))
		assert.Equal(t, int64(99), got.SourceOffset)
	})
	t.Run("CustomerTotalState exact decimal", func(t *testing.T) {
		c, err := codecs.NewAvro[avro.CustomerTotalState](ctx, reg, "state-value", avro.CustomerTotalStateSchema)
		require.NoError(t, err)
		in := &avro.CustomerTotalState{CustomerID: 5, CustomerName: "A B", OrderCount: 3, TotalAmount: rat("9999999999999999.99"), UpdatedAt: when,
			Watermarks: []avro.SourceWatermark{{Partition: 1, Offset: 10}},
			Open:       []avro.OpenOrder{{Partition: 1, Offset: 7, State: avro.OpenOrderStatePending}}}
		b, err := c.Encode(in)
		require.NoError(t, err)
		got, err := c.DecodeValue(b)
		require.NoError(t, err)
		assert.Equal(t, "9999999999999999.99", got.TotalAmount.FloatString(2))
		assert.Equal(t, in.Open, got.Open)
	})
}

func TestEncodeRejectsOtherTypes(t *testing.T) {
	reg, _ := newRegistry(t)
	c, err := codecs.NewAvro[avro.Order](context.Background(), reg, "orders-value", avro.OrderSchema)
	require.NoError(t, err)
	_, err = c.Encode(&avro.Customer{})
	require.ErrorContains(t, err, "want *avro.Order")
	_, err = c.Encode(&avro.Order{OrderID: "x", UnitPrice: rat("1234567890.12")}) // 12 digits > decimal(10,2)
	require.Error(t, err)
}

// An older producer wrote customers without phone/city/country and
// created_at; a newer one adds a column we do not know.
func TestDecodesOlderAndNewerWriterSchemas(t *testing.T) {
	reg, cl := newRegistry(t)
	c, err := codecs.NewAvro[avro.Customer](context.Background(), reg, "customers-value", avro.CustomerSchema)
	require.NoError(t, err)

	older := `{"type":"record","name":"Customer","namespace":"io.orderstream","fields":[
		{"name":"id","type":"long"},{"name":"first_name","type":"string"},{"name":"last_name","type":"string"},
		{"name":"email","type":"string"},{"name":"credit_card","type":["null","string"],"default":null},
		{"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"updated_at","type":{"type":"long","logicalType":"timestamp-millis"}}]}`
	oldID := register(t, cl, "customers-value", older)
	got, err := c.DecodeValue(frame(t, oldID, older, map[string]any{
		"id": int64(9), "first_name": "Old", "last_name": "Writer", "email": "o@x", "credit_card": nil,
		"created_at": when, "updated_at": when}))
	require.NoError(t, err)
	assert.Equal(t, "Old", got.FirstName)
	assert.Nil(t, got.Phone, "missing field takes its default")

	newer := strings.Replace(avro.CustomerSchema, `{"name": "id", "type": "long"},`,
		`{"name": "id", "type": "long"}, {"name": "loyalty_tier", "type": ["null", "string"], "default": null},`, 1)
	newID := register(t, cl, "customers-value", newer)
	got, err = c.DecodeValue(frame(t, newID, newer, map[string]any{
		"id": int64(10), "loyalty_tier": "gold", "first_name": "New", "last_name": "Writer", "email": "n@x",
		"phone": "+1", "credit_card": nil, "city": nil, "country": "DE", "created_at": when, "updated_at": when}))
	require.NoError(t, err)
	assert.Equal(t, int64(10), got.ID)
	assert.Equal(t, "DE", *got.Country, "fields after the unknown one still line up")

	// A writer that lacks a field we need (no default) cannot be read.
	lacking := `{"type":"record","name":"Customer","namespace":"io.orderstream","fields":[{"name":"id","type":"long"}]}`
	lackID := register(t, cl, "customers-value", lacking)
	_, err = c.DecodeValue(frame(t, lackID, lacking, map[string]any{"id": int64(1)}))
	require.ErrorIs(t, err, codecs.ErrIncompatibleSchema)
	require.ErrorContains(t, err, "first_name")
	assert.True(t, codecs.IsBadRecord(err))
}

// Debezium's ExtractNewRecordState leaves the row record named
// <topic.prefix>.<db>.<table>.Value, with Kafka Connect's extra properties.
func TestDecodesDebeziumNamedRecord(t *testing.T) {
	reg, cl := newRegistry(t)
	c, err := codecs.NewAvro[avro.Product](context.Background(), reg, "products-value", avro.ProductSchema)
	require.NoError(t, err)
	debezium := `{"type":"record","name":"Value","namespace":"mysql.shop.products","fields":[
		{"name":"id","type":"long"},
		{"name":"name","type":"string"},
		{"name":"category","type":"string"},
		{"name":"price","type":{"type":"bytes","scale":2,"precision":10,"connect.version":1,
			"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},
			"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},
		{"name":"description","type":["null","string"],"default":null},
		{"name":"created_at","type":{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}},
		{"name":"updated_at","type":{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}},
		{"name":"__deleted","type":["null","string"],"default":null}],
		"connect.name":"mysql.shop.products.Value"}`
	id := register(t, cl, "products-value", debezium)
	got, err := c.DecodeValue(frame(t, id, debezium, map[string]any{
		"id": int64(3), "name": "Teapot", "category": "Kitchen", "price": rat("24.50"), "description": nil,
		"created_at": when, "updated_at": when, "__deleted": "false"}))
	require.NoError(t, err)
	assert.Equal(t, "Teapot", got.Name)
	assert.Equal(t, "24.50", got.Price.FloatString(2))
}

func TestMalformedInput(t *testing.T) {
	reg, cl := newRegistry(t)
	c, err := codecs.NewAvro[avro.Order](context.Background(), reg, "orders-value", avro.OrderSchema)
	require.NoError(t, err)
	good, err := c.Encode(&avro.Order{OrderID: "2b0d7b3d-6c2b-4f7a-9a8e-0c6c1d1b9f00", CustomerID: 1, ProductID: 1, Quantity: 1, UnitPrice: rat("1.00"), CreatedAt: when})
	require.NoError(t, err)
	productID := register(t, cl, "products-value", avro.ProductSchema)

	cases := []struct {
		name    string
		data    []byte
		kind    error
		message string
	}{
		{"nil", nil, codecs.ErrNilValue, "null"},
		{"empty", []byte{}, codecs.ErrNotWireFormat, "0 bytes"},
		{"short header", []byte{0, 0, 1}, codecs.ErrNotWireFormat, "3 bytes"},
		{"JSON", []byte(`{"order_id":"x"}`), codecs.ErrNotWireFormat, "first byte is 0x7b"},
		{"unknown schema id", append([]byte{0, 0, 0, 0x30, 0x39}, good[5:]...), codecs.ErrUnknownSchemaID, "12345"},
		{"truncated body", good[:len(good)-3], codecs.ErrBadBody, "orders-value"},
		{"trailing bytes", append(append([]byte{}, good...), 1, 2), codecs.ErrBadBody, "2 bytes left"},
		{"garbage body", append(append([]byte{}, good[:5]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), codecs.ErrBadBody, "orders-value"},
		{"another subject's schema", frame(t, productID, avro.ProductSchema, &avro.Product{ID: 1, Name: "n", Category: "c", Price: rat("1"), CreatedAt: when, UpdatedAt: when}), codecs.ErrIncompatibleSchema, "order_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.DecodeValue(tc.data)
			require.Error(t, err)
			assert.Nil(t, v)
			assert.ErrorIs(t, err, tc.kind)
			assert.Contains(t, err.Error(), tc.message)
			assert.True(t, codecs.IsBadRecord(err), "a bad record, not a transient failure")
		})
	}
}

func TestRegistryDownIsNotABadRecord(t *testing.T) {
	fake := srfake.New()
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	require.NoError(t, err)
	reg := codecs.NewRegistry(cl, codecs.WithRequestTimeout(time.Second))
	c, err := codecs.NewAvro[avro.Order](context.Background(), reg, "orders-value", avro.OrderSchema)
	require.NoError(t, err)
	older := strings.Replace(avro.OrderSchema, `{"name": "quantity", "type": "int"},`, `{"name": "quantity", "type": "int"}, {"name": "note", "type": "string", "default": ""},`, 1)
	id := register(t, cl, "orders-value", older)
	data := frame(t, id, older, map[string]any{"order_id": "2b0d7b3d-6c2b-4f7a-9a8e-0c6c1d1b9f00", "customer_id": 1, "product_id": 1,
		"quantity": 1, "note": "", "unit_price": rat("1"), "created_at": when})
	fake.Close()

	_, err = c.DecodeValue(data)
	require.Error(t, err)
	var re *codecs.RegistryError
	require.True(t, errors.As(err, &re), "got %v", err)
	assert.False(t, codecs.IsBadRecord(err))
	assert.Contains(t, err.Error(), "schema registry")
}

func TestAutoRegisterOff(t *testing.T) {
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	require.NoError(t, err)
	reg := codecs.NewRegistry(cl, codecs.WithAutoRegister(false))
	_, err = codecs.NewAvro[avro.Order](context.Background(), reg, "orders-value", avro.OrderSchema)
	require.ErrorContains(t, err, "auto-registration is off")

	id := register(t, cl, "orders-value", avro.OrderSchema)
	c, err := codecs.NewAvro[avro.Order](context.Background(), reg, "orders-value", avro.OrderSchema)
	require.NoError(t, err)
	assert.Equal(t, id, c.SchemaID())
}

// Kafka Connect's AvroConverter can register an optional struct value as a
// union of null and the record.
func TestDecodesOptionalRootRecord(t *testing.T) {
	reg, cl := newRegistry(t)
	c, err := codecs.NewAvro[avro.Product](context.Background(), reg, "products-value", avro.ProductSchema)
	require.NoError(t, err)
	optional := `["null", {"type":"record","name":"Value","namespace":"cdc.shop.products","fields":[
		{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"category","type":"string"},
		{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
		{"name":"description","type":["null","string"],"default":null},
		{"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"updated_at","type":{"type":"long","logicalType":"timestamp-millis"}}]}]`
	id := register(t, cl, "products-value", optional)
	got, err := c.DecodeValue(frame(t, id, optional, map[string]any{
		"id": int64(4), "name": "Kettle", "category": "Kitchen", "price": rat("39.90"), "description": nil,
		"created_at": when, "updated_at": when}))
	require.NoError(t, err)
	assert.Equal(t, "Kettle", got.Name)
	assert.Equal(t, "39.90", got.Price.FloatString(2))

	_, err = c.DecodeValue(frame(t, id, optional, nil))
	require.ErrorIs(t, err, codecs.ErrNilValue)
}
