-- Application / CDC user for the `shop` database.
--
-- DEV ONLY: the password 'orderstream' is public (it is in this repository).
-- Production deployments create the user with a secret password instead.
--
-- Portable: MySQL 8.0 and MariaDB 10.11; idempotent (safe to run again: it
-- re-applies the password and the grants). Run as root.
--
-- Privileges:
--   SELECT ON shop.*         read the data (snapshot / initial dump)
--   RELOAD                   FLUSH TABLES / FLUSH ... during a locking snapshot
--   SHOW DATABASES           list schemas (Debezium, canal)
--   REPLICATION SLAVE        stream the binlog (COM_BINLOG_DUMP[_GTID])
--   REPLICATION CLIENT       SHOW MASTER STATUS / SHOW BINARY LOGS on MySQL 8.0
--                            (SHOW BINARY LOG STATUS from 8.2).
--                            MariaDB >= 10.5.2 renamed it: REPLICATION CLIENT is
--                            accepted as an ALIAS of BINLOG MONITOR (SHOW GRANTS
--                            then lists BINLOG MONITOR), which is exactly what
--                            SHOW MASTER STATUS / SHOW BINLOG STATUS / SHOW BINARY
--                            LOGS need there. So no MariaDB-only `GRANT BINLOG
--                            MONITOR` statement is needed (and none is used: MySQL
--                            would reject it, and a /*M! */ comment-only statement
--                            risks "Query was empty" with some MySQL clients).
-- No INSERT/UPDATE/DELETE: tests that write use root.
--
-- Hosts: '%' for TCP from anywhere; 'localhost' (socket; on MariaDB without
-- skip-name-resolve also TCP from 127.0.0.1) and '127.0.0.1' (TCP with
-- skip-name-resolve) explicitly, so an anonymous ''@'localhost' account, if the
-- server has one, can never shadow this user.
--
-- MySQL 8.x note: new accounts use caching_sha2_password. The Go clients (go-sql-driver
-- and go-mysql's binlog client) fetch the server's RSA key themselves over plain TCP, so
-- no DSN option is needed (`allowPublicKeyRetrieval` is the Java driver's option; the
-- Go driver would send it to the server as a session variable and fail).
-- MariaDB uses mysql_native_password.

CREATE USER IF NOT EXISTS 'orderstream'@'%'         IDENTIFIED BY 'orderstream';
CREATE USER IF NOT EXISTS 'orderstream'@'localhost' IDENTIFIED BY 'orderstream';
CREATE USER IF NOT EXISTS 'orderstream'@'127.0.0.1' IDENTIFIED BY 'orderstream';

-- CREATE USER IF NOT EXISTS leaves an existing account's password alone: reset it.
ALTER USER 'orderstream'@'%'         IDENTIFIED BY 'orderstream';
ALTER USER 'orderstream'@'localhost' IDENTIFIED BY 'orderstream';
ALTER USER 'orderstream'@'127.0.0.1' IDENTIFIED BY 'orderstream';

GRANT SELECT ON shop.* TO 'orderstream'@'%', 'orderstream'@'localhost', 'orderstream'@'127.0.0.1';

GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.*
  TO 'orderstream'@'%', 'orderstream'@'localhost', 'orderstream'@'127.0.0.1';

FLUSH PRIVILEGES;
