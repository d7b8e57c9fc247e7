-- streamapp local stack: the MariaDB sample database `shop` (applied by `make up`; idempotent).
-- Tests create databases of their own from this file with `shop` replaced by their name.
CREATE DATABASE IF NOT EXISTS shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE shop;

CREATE TABLE IF NOT EXISTS customers (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    full_name VARCHAR(255) NOT NULL,
    active TINYINT(1) NOT NULL DEFAULT 1,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB;

-- One column per MySQL-family type Debezium decodes differently (see README "MariaDB source").
CREATE TABLE IF NOT EXISTS type_zoo (
    id INT NOT NULL PRIMARY KEY,
    c_bool TINYINT(1),
    c_tinyint TINYINT,
    c_tinyint_u TINYINT UNSIGNED,
    c_smallint_u SMALLINT UNSIGNED,
    c_mediumint_u MEDIUMINT UNSIGNED,
    c_int_u INT UNSIGNED,
    c_bigint BIGINT,
    c_bigint_u BIGINT UNSIGNED,
    c_decimal DECIMAL(65, 30),
    c_decimal_small DECIMAL(10, 2),
    c_float FLOAT,
    c_double DOUBLE,
    c_datetime0 DATETIME(0),
    c_datetime3 DATETIME(3),
    c_datetime6 DATETIME(6),
    c_timestamp TIMESTAMP(6) NULL,
    c_date DATE,
    c_time TIME(6),
    c_year YEAR,
    c_bit1 BIT(1),
    c_bit12 BIT(12),
    c_bit64 BIT(64),
    c_enum ENUM('small', 'medium', 'large'),
    c_set SET('red', 'green', 'blue'),
    c_json JSON,
    c_varchar VARCHAR(100),
    c_text TEXT,
    c_blob BLOB,
    c_binary BINARY(4),
    c_point POINT,
    c_geometry GEOMETRY
) ENGINE = InnoDB;
