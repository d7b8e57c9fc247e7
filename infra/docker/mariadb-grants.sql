-- docker compose: the user the image creates (MARIADB_USER) gets what Debezium's MariaDB
-- connector needs (SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR), as the
-- native stack's user does (infra/local/stack/mariadb.py).
GRANT ALL PRIVILEGES ON *.* TO 'streamapp'@'%';
