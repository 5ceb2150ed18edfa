package details

// The join reads only a few columns of a customer or product row. Rows
// are decoded into these projections of io.orderstream.Customer and
// Product (the topics' records resolved onto them, the other fields
// skipped), and each decoded row is remembered by its bytes (a
// codecs.Shared), so a row is decoded once however many orders need it.

// customerRow is what the join reads of a customer.
type customerRow struct {
	ID        int64  `avro:"id"`
	FirstName string `avro:"first_name"`
	LastName  string `avro:"last_name"`
	Email     string `avro:"email"`
}

const customerRowSchema = `{"type": "record", "name": "Customer", "namespace": "io.orderstream", "fields": [
	{"name": "id", "type": "long"},
	{"name": "first_name", "type": "string"},
	{"name": "last_name", "type": "string"},
	{"name": "email", "type": "string"}]}`

// productRow is what the join reads of a product.
type productRow struct {
	ID       int64  `avro:"id"`
	Name     string `avro:"name"`
	Category string `avro:"category"`
}

const productRowSchema = `{"type": "record", "name": "Product", "namespace": "io.orderstream", "fields": [
	{"name": "id", "type": "long"},
	{"name": "name", "type": "string"},
	{"name": "category", "type": "string"}]}`

// rowMemo is how many decoded rows each table remembers: the hot
// customers and products of a shop (each ~200 bytes decoded).
const rowMemo = 20_000
