package dashboard

import (
	"context"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
)

// tables holds the latest value of every key of customer-totals and
// customers, read from the start of the topics.
type tables struct {
	mu        sync.Mutex
	totals    map[string]*avro.CustomerTotal
	customers map[string]*avro.Customer
	ends      map[string]map[int32]int64 // end offsets when reading began
	next      map[string]map[int32]int64 // the next offset to read
	caughtUp  bool
	err       string
	version   int // changes with every record
	top       []*avro.CustomerTotal
	topOf     int // the version top was sorted at
}

func newTables() *tables {
	return &tables{totals: map[string]*avro.CustomerTotal{}, customers: map[string]*avro.Customer{},
		next: map[string]map[int32]int64{}, version: 1}
}

func (t *tables) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err.Error()
}

// run reads the two topics until ctx ends.
func (t *tables) run(ctx context.Context, o Options) {
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(o.Interval):
			return true
		}
	}
	// The codecs, once the registry answers.
	var totals *codecs.Avro[avro.CustomerTotal]
	var customers *codecs.Avro[avro.Customer]
	for {
		var err error
		if totals == nil {
			totals, err = codecs.NewAvro[avro.CustomerTotal](ctx, o.Registry, codecs.ValueSubject(o.Topics.CustomerTotals), avro.CustomerTotalSchema)
		}
		if err == nil && customers == nil {
			customers, err = codecs.NewAvro[avro.Customer](ctx, o.Registry, codecs.ValueSubject(o.Topics.Customers), avro.CustomerSchema)
		}
		if err == nil {
			break
		}
		t.fail(err)
		if !wait() {
			return
		}
	}
	topics := []string{o.Topics.CustomerTotals, o.Topics.Customers}
	cl, err := kgo.NewClient(append(slices.Clone(o.Kafka), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.fail(err)
		return
	}
	defer cl.Close()
	for {
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
		if err == nil {
			t.mu.Lock()
			t.ends, t.err = map[string]map[int32]int64{}, ""
			ends.Each(func(lo kadm.ListedOffset) {
				if lo.Err == nil && lo.Offset > 0 {
					if t.ends[lo.Topic] == nil {
						t.ends[lo.Topic] = map[int32]int64{}
					}
					t.ends[lo.Topic][lo.Partition] = lo.Offset
				}
			})
			t.checkCaughtUp()
			t.mu.Unlock()
			break
		}
		t.fail(err)
		if !wait() {
			return
		}
	}
	for ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		if fetches.IsClientClosed() {
			return
		}
		for _, fe := range fetches.Errors() {
			if ctx.Err() == nil {
				o.Log.Debug("dashboard: reading the tables", "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
		}
		t.mu.Lock()
		fetches.EachRecord(func(r *kgo.Record) {
			key := string(r.Key)
			switch r.Topic {
			case o.Topics.CustomerTotals:
				if r.Value == nil {
					delete(t.totals, key)
				} else if v, err := totals.DecodeValue(r.Value); err == nil {
					t.totals[key] = v
				}
			case o.Topics.Customers:
				if r.Value == nil {
					delete(t.customers, key)
				} else if v, err := customers.DecodeValue(r.Value); err == nil {
					t.customers[key] = v
				}
			}
			if t.next[r.Topic] == nil {
				t.next[r.Topic] = map[int32]int64{}
			}
			t.next[r.Topic][r.Partition] = r.Offset + 1
			t.version++
		})
		t.checkCaughtUp()
		t.mu.Unlock()
	}
}

// checkCaughtUp: t.mu is held.
func (t *tables) checkCaughtUp() {
	if t.caughtUp || t.ends == nil {
		return
	}
	for topic, parts := range t.ends {
		for p, end := range parts {
			if t.next[topic][p] < end {
				return
			}
		}
	}
	t.caughtUp = true
}

func (t *tables) summary() TablesState {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := TablesState{Customers: len(t.customers), Totals: len(t.totals), CaughtUp: t.caughtUp, Error: t.err}
	amount := new(big.Rat)
	for _, v := range t.totals {
		s.Orders += v.OrderCount
		if v.TotalAmount != nil {
			amount.Add(amount, v.TotalAmount)
		}
	}
	s.Amount = amount.FloatString(2)
	return s
}

// CustomerView is one customer as the page shows it: the row of the
// customers topic (credit card masked, as on the topic) and the total.
type CustomerView struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Email       string     `json:"email,omitempty"`
	Phone       *string    `json:"phone,omitempty"`
	City        *string    `json:"city,omitempty"`
	Country     *string    `json:"country,omitempty"`
	CreditCard  *string    `json:"credit_card,omitempty"`
	Row         bool       `json:"row"` // the customers topic has its row
	Orders      int64      `json:"orders"`
	Total       string     `json:"total"` // exact, two decimals
	LastOrderID *string    `json:"last_order_id,omitempty"`
	LastOrderAt *time.Time `json:"last_order_at,omitempty"`
	UpdatedAt   *time.Time `json:"total_updated_at,omitempty"`
}

// view: t.mu is held.
func (t *tables) view(key string) CustomerView {
	v := CustomerView{ID: key, Total: "0.00"}
	if c := t.customers[key]; c != nil {
		v.Row, v.Name, v.Email, v.Phone, v.City, v.Country, v.CreditCard = true, c.FirstName+" "+c.LastName, c.Email, c.Phone, c.City, c.Country, c.CreditCard
	}
	if tot := t.totals[key]; tot != nil {
		if v.Name == "" {
			v.Name = tot.CustomerName
		}
		if v.Email == "" && tot.CustomerEmail != nil {
			v.Email = *tot.CustomerEmail
		}
		v.Orders = tot.OrderCount
		if tot.TotalAmount != nil {
			v.Total = tot.TotalAmount.FloatString(2)
		}
		v.LastOrderID, v.LastOrderAt = tot.LastOrderID, tot.LastOrderAt
		at := tot.UpdatedAt
		v.UpdatedAt = &at
	}
	return v
}

// topCustomers are the n customers with the highest totals.
func (t *tables) topCustomers(n int) []CustomerView {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.topOf != t.version {
		t.top = t.top[:0]
		for _, v := range t.totals {
			t.top = append(t.top, v)
		}
		slices.SortFunc(t.top, byTotal)
		t.topOf = t.version
	}
	out := []CustomerView{}
	for _, v := range t.top[:min(n, len(t.top))] {
		out = append(out, t.view(codecs.Key(v.CustomerID)))
	}
	return out
}

// byTotal orders customers by total, highest first, then by id.
func byTotal(a, b *avro.CustomerTotal) int {
	if a.TotalAmount != nil && b.TotalAmount != nil {
		if c := b.TotalAmount.Cmp(a.TotalAmount); c != 0 {
			return c
		}
	}
	switch {
	case a.CustomerID < b.CustomerID:
		return -1
	case a.CustomerID > b.CustomerID:
		return 1
	}
	return 0
}

// search finds customers by id (all digits) or by a part of their name or
// email, highest total first, at most limit.
func (t *tables) search(q string, limit int) []CustomerView {
	q = strings.TrimSpace(q)
	out := []CustomerView{}
	if q == "" {
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if strings.Trim(q, "0123456789") == "" {
		key := strings.TrimLeft(q, "0")
		if key == "" {
			key = "0"
		}
		if t.customers[key] != nil || t.totals[key] != nil {
			out = append(out, t.view(key))
		}
		return out
	}
	needle := strings.ToLower(q)
	keys := map[string]bool{}
	for k, c := range t.customers {
		if strings.Contains(strings.ToLower(c.FirstName+" "+c.LastName+" "+c.Email), needle) {
			keys[k] = true
		}
	}
	for k, v := range t.totals {
		email := ""
		if v.CustomerEmail != nil {
			email = *v.CustomerEmail
		}
		if strings.Contains(strings.ToLower(v.CustomerName+" "+email), needle) {
			keys[k] = true
		}
	}
	for k := range keys {
		out = append(out, t.view(k))
	}
	slices.SortFunc(out, func(a, b CustomerView) int {
		x, _ := new(big.Rat).SetString(a.Total)
		y, _ := new(big.Rat).SetString(b.Total)
		if c := y.Cmp(x); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out[:min(limit, len(out))]
}
