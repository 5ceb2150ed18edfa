-- Schema of the CDC source database `shop`.
--
-- Portable: runs unchanged on MySQL 8.0 (>= 8.0.16, where CHECK is enforced)
-- and MariaDB 10.11. Keep to the common subset of both dialects: no MariaDB-only
-- syntax (no SEQUENCE, no `CREATE OR REPLACE TABLE`, no `/*M! */` comments) and
-- no MySQL-only syntax (no `/*!80000 */` features, no functional defaults beyond
-- CURRENT_TIMESTAMP). Re-running it is harmless (IF NOT EXISTS everywhere); it
-- does NOT alter tables that already exist.
--
-- Notes for CDC consumers:
--  * Every table has a primary key (Debezium/canal key the Kafka records on it).
--  * Times are DATETIME(3) holding UTC (the servers and our sessions run with
--    time_zone '+00:00'). DATETIME, not TIMESTAMP: Debezium with
--    time.precision.mode=connect maps DATETIME to Kafka Connect's Timestamp
--    (Avro timestamp-millis, as in avro/*.avsc) but TIMESTAMP always to a
--    ZonedTimestamp string. The Go CDC source reads DATETIME as UTC too.
--  * DECIMAL(10,2): read it as an exact decimal string/number, never a float.

CREATE DATABASE IF NOT EXISTS shop
  CHARACTER SET utf8mb4
  COLLATE utf8mb4_unicode_ci;

USE shop;

CREATE TABLE IF NOT EXISTS customers (
  id          BIGINT       NOT NULL AUTO_INCREMENT,
  first_name  VARCHAR(100) NOT NULL,
  last_name   VARCHAR(100) NOT NULL,
  email       VARCHAR(255) NOT NULL,
  phone       VARCHAR(32)  NULL,
  credit_card VARCHAR(32)  NULL,   -- test data only; never store real card numbers in clear
  city        VARCHAR(100) NULL,
  country     CHAR(2)      NULL,   -- ISO 3166-1 alpha-2
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_customers_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS products (
  id          BIGINT        NOT NULL AUTO_INCREMENT,
  name        VARCHAR(200)  NOT NULL,
  category    VARCHAR(100)  NOT NULL,
  price       DECIMAL(10,2) NOT NULL,
  description VARCHAR(1000) NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  CONSTRAINT ck_products_price_nonnegative CHECK (price >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
