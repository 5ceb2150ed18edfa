package producer

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
)

// Product is what an order needs of a product.
type Product struct {
	ID    int64
	Price *big.Rat
}

// Catalog is the customers and products orders are made of.
type Catalog struct {
	Customers []int64
	Products  []Product
}

// LoadCatalog reads the ids of shop.customers and the ids and prices of
// shop.products.
func LoadCatalog(ctx context.Context, db *sql.DB) (Catalog, error) {
	var c Catalog
	rows, err := db.QueryContext(ctx, "SELECT id FROM customers ORDER BY id")
	if err != nil {
		return c, fmt.Errorf("reading customers: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return c, fmt.Errorf("reading customers: %w", err)
		}
		c.Customers = append(c.Customers, id)
	}
	if err := rows.Close(); err != nil {
		return c, fmt.Errorf("reading customers: %w", err)
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("reading customers: %w", err)
	}

	// The price travels as its exact decimal text, never as a float.
	rows, err = db.QueryContext(ctx, "SELECT id, CAST(price AS CHAR) FROM products ORDER BY id")
	if err != nil {
		return c, fmt.Errorf("reading products: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Product
		var price string
		if err := rows.Scan(&p.ID, &price); err != nil {
			return c, fmt.Errorf("reading products: %w", err)
		}
		r, ok := new(big.Rat).SetString(price)
		if !ok {
			return c, fmt.Errorf("product %d: price %q is not a decimal", p.ID, price)
		}
		p.Price = r
		c.Products = append(c.Products, p)
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("reading products: %w", err)
	}
	return c, nil
}

// Validate says why no order can be made from c, if so.
func (c Catalog) Validate() error {
	switch {
	case len(c.Customers) == 0 && len(c.Products) == 0:
		return fmt.Errorf("the database has no customers and no products: load database/ddl.sql and database/dml.sql (scripts/mariadb.sh start does)")
	case len(c.Customers) == 0:
		return fmt.Errorf("the customers table is empty: orders need customers")
	case len(c.Products) == 0:
		return fmt.Errorf("the products table is empty: orders need products")
	}
	return nil
}
