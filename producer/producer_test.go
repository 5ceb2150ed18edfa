package producer_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/lovoo/goka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/producer"
)

// fakeEmitter records orders and acknowledges them at once.
type fakeEmitter struct {
	mu     sync.Mutex
	orders []*avro.Order
	keys   []string
	seen   chan *avro.Order
	fail   error
}

func (f *fakeEmitter) Emit(key string, msg any) (*goka.Promise, error) {
	f.mu.Lock()
	f.orders = append(f.orders, msg.(*avro.Order))
	f.keys = append(f.keys, key)
	f.mu.Unlock()
	if f.seen != nil {
		select {
		case f.seen <- msg.(*avro.Order):
		default:
		}
	}
	p, finish := goka.NewPromiseWithFinisher()
	finish(nil, f.fail)
	return p, nil
}

func shopDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", testkit.MySQL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// scratchDB creates an empty database with the two tables and returns a
// connection to it.
func scratchDB(t *testing.T) *sql.DB {
	t.Helper()
	root := shopDB(t)
	name := fmt.Sprintf("producer_test_%d", time.Now().UnixNano()%1e9)
	_, err := root.Exec("CREATE DATABASE " + name)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE " + name) })
	for _, stmt := range []string{
		"CREATE TABLE " + name + ".customers (id BIGINT PRIMARY KEY)",
		"CREATE TABLE " + name + ".products (id BIGINT PRIMARY KEY, price DECIMAL(10,2) NOT NULL)",
	} {
		_, err := root.Exec(stmt)
		require.NoError(t, err)
	}
	cfg, err := mysql.ParseDSN(testkit.MySQL(t))
	require.NoError(t, err)
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLoadCatalogFromTheSeedData(t *testing.T) {
	c, err := producer.LoadCatalog(context.Background(), shopDB(t))
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.GreaterOrEqual(t, len(c.Customers), 100)
	assert.GreaterOrEqual(t, len(c.Products), 50)
	prices := map[int64]string{}
	for _, p := range c.Products {
		prices[p.ID] = p.Price.FloatString(2)
	}
	assert.Equal(t, "0.10", prices[19], "exact decimal from DECIMAL(10,2)")
}

func TestEmptyDatabaseIsAClearError(t *testing.T) {
	db := scratchDB(t)
	c, err := producer.LoadCatalog(context.Background(), db)
	require.NoError(t, err)
	err = c.Validate()
	require.ErrorContains(t, err, "no customers and no products")
	require.ErrorContains(t, err, "database/dml.sql")

	_, err = producer.Run(context.Background(), db, c, &fakeEmitter{}, producer.Options{Count: 1})
	require.Error(t, err)

	_, err = db.Exec("INSERT INTO customers VALUES (1)")
	require.NoError(t, err)
	c, err = producer.LoadCatalog(context.Background(), db)
	require.NoError(t, err)
	require.ErrorContains(t, c.Validate(), "products table is empty")
}

func TestRunProducesCountOrdersKeyedByCustomer(t *testing.T) {
	db := shopDB(t)
	c, err := producer.LoadCatalog(context.Background(), db)
	require.NoError(t, err)
	em := &fakeEmitter{}
	stats, err := producer.Run(context.Background(), db, c, em, producer.Options{Count: 500, MaxQuantity: 3, Seed: 42})
	require.NoError(t, err)
	assert.Equal(t, producer.Stats{Produced: 500, Acked: 500}, stats)
	require.Len(t, em.orders, 500)
	ids := map[string]bool{}
	prices := map[int64]*big.Rat{}
	for _, p := range c.Products {
		prices[p.ID] = p.Price
	}
	for i, o := range em.orders {
		assert.Equal(t, codecs.Key(o.CustomerID), em.keys[i])
		assert.True(t, o.Quantity >= 1 && o.Quantity <= 3)
		assert.Zero(t, prices[o.ProductID].Cmp(o.UnitPrice), "unit price is the product's price")
		assert.False(t, ids[o.OrderID], "order ids are unique")
		ids[o.OrderID] = true
	}
}

func TestRunStopsOnAFailedProduce(t *testing.T) {
	db := shopDB(t)
	c, err := producer.LoadCatalog(context.Background(), db)
	require.NoError(t, err)
	_, err = producer.Run(context.Background(), db, c, &fakeEmitter{fail: fmt.Errorf("broker gone")}, producer.Options{Count: 10})
	require.ErrorContains(t, err, "broker gone")
}

func TestRunPicksUpRowsAddedWhileRunning(t *testing.T) {
	db := scratchDB(t)
	_, err := db.Exec("INSERT INTO customers VALUES (1)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO products VALUES (1, 2.50)")
	require.NoError(t, err)
	c, err := producer.LoadCatalog(context.Background(), db)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	em := &fakeEmitter{seen: make(chan *avro.Order, 1)}
	done := make(chan error, 1)
	go func() {
		_, err := producer.Run(ctx, db, c, em, producer.Options{Rate: 200, CatalogRefresh: time.Second, Seed: 1})
		done <- err
	}()
	<-em.seen
	_, err = db.Exec("INSERT INTO customers VALUES (2)")
	require.NoError(t, err)
	deadline := time.After(30 * time.Second)
	for found := false; !found; {
		select {
		case o := <-em.seen:
			found = o.CustomerID == 2
		case <-deadline:
			t.Fatal("no order for the customer added while running")
		}
	}
	cancel()
	require.NoError(t, <-done, "stopping an unbounded run is not an error")
}
