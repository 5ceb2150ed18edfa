package store

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkMemory: Set of new keys, Get, overwrite, and a full sorted
// iteration, at 10k, 100k and 1M rows of 110 bytes in one partition;
// B/row is the heap the Memory holds per row.
//
//	go test -run '^$' -bench Memory ./kit/store/
func BenchmarkMemory(b *testing.B) {
	value := make([]byte, 104) // + a 6-digit key: a customer row
	for i := range value {
		value[i] = byte(i)
	}
	for _, rows := range []int{10_000, 100_000, 1_000_000} {
		keys := make([]string, rows)
		for i := range keys {
			keys[i] = strconv.Itoa(100_000 + i*7919%rows)
		}
		b.Run(fmt.Sprintf("rows=%d/load", rows), func(b *testing.B) {
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				m := NewMemory()
				for _, k := range keys {
					m.Set(k, value)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(rows), "B/row")
				b.ReportMetric(float64(len(keys[0])+len(value)), "enc-B/row")
				runtime.KeepAlive(m)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
			b.ReportMetric(0, "ns/op")
		})
		m := NewMemory()
		for _, k := range keys {
			m.Set(k, value)
		}
		b.Run(fmt.Sprintf("rows=%d/get", rows), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if v, _ := m.Get(keys[i]); v == nil {
					b.Fatal("missing")
				}
				i = (i + 1) % rows
			}
		})
		b.Run(fmt.Sprintf("rows=%d/overwrite", rows), func(b *testing.B) {
			i := 0
			for b.Loop() {
				m.Set(keys[i], value)
				i = (i + 1) % rows
			}
		})
		b.Run(fmt.Sprintf("rows=%d/iterate", rows), func(b *testing.B) {
			for b.Loop() {
				it, _ := m.Iterator()
				n := 0
				for it.Next() {
					n++
				}
				if n != rows {
					b.Fatal(n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
