package codecs_test

import (
	"context"
	"testing"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
)

func BenchmarkOrderDetails(b *testing.B) {
	c, err := codecs.NewAvro[avro.OrderDetails](context.Background(), testkit.Registry(b), "order-details-value", avro.OrderDetailsSchema)
	if err != nil {
		b.Fatal(err)
	}
	first, last, email, name, cat := "Ada", "Lovelace", "ada@example.com", "Teapot", "Kitchen"
	d := &avro.OrderDetails{OrderID: "2b0d7b3d-6c2b-4f7a-9a8e-0c6c1d1b9f00", CustomerID: 42, ProductID: 7, Quantity: 3,
		UnitPrice: rat("19.99"), LineTotal: rat("59.97"), CreatedAt: when, Status: avro.OrderDetailsStatusJoined,
		CustomerFirstName: &first, CustomerLastName: &last, CustomerEmail: &email, ProductName: &name, ProductCategory: &cat,
		SourcePartition: 3, SourceOffset: 123456}
	data, err := c.Encode(d)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Encode(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.DecodeValue(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
