package codecs

// Decoded is what a Lenient codec hands a Goka callback: the decoded value,
// or the reason there is none, plus the raw bytes (for a dead-letter topic).
type Decoded[T any] struct {
	Value *T
	Raw   []byte
	Err   error
}

// Lenient wraps an Avro codec so that Decode never fails. Goka stops a
// processor when an input or table value does not decode; with Lenient the
// callback gets a Decoded with Err set and decides: dead-letter a bad record
// (IsBadRecord), retry a transient failure.
type Lenient[T any] struct{ *Avro[T] }

// NewLenient wraps c.
func NewLenient[T any](c *Avro[T]) Lenient[T] { return Lenient[T]{c} }

// Decode returns a Decoded[T] and never an error.
func (l Lenient[T]) Decode(data []byte) (any, error) {
	v, err := l.DecodeValue(data)
	return Decoded[T]{Value: v, Raw: data, Err: err}, nil
}
