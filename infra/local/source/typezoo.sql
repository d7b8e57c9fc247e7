-- The PostgreSQL type zoo: one column per type Debezium's PostgreSQL connector supports.
--
-- Schema-agnostic like shop.sql: names resolve through search_path (tests/e2e/test_typezoo.py
-- applies it to a schema of its own). hstore, ltree and citext are database-wide extensions
-- (PostgreSQL contrib), created once in the `source` database's public schema.
-- Rows: 1 typical values, 2 edge values (limits, pre-epoch, year 9999, 40-digit numerics),
-- 3 all NULL, and one row per value a sink may not hold (see README "PostgreSQL type zoo").

CREATE EXTENSION IF NOT EXISTS hstore SCHEMA public;
CREATE EXTENSION IF NOT EXISTS ltree SCHEMA public;
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);

CREATE TABLE zoo (
    id           integer PRIMARY KEY,
    c_smallint   smallint,
    c_int        integer,
    c_bigint     bigint,
    c_numeric    numeric(20, 5),
    c_numvar     numeric,            -- no precision or scale: any size, NaN
    c_money      money,
    c_real       real,
    c_double     double precision,
    c_bool       boolean,
    c_char       char(5),
    c_varchar    varchar(20),
    c_text       text,
    c_bytea      bytea,
    c_date       date,
    c_time       time,
    c_timetz     timetz,
    c_ts         timestamp,
    c_tstz       timestamptz,
    c_interval   interval,
    c_uuid       uuid,
    c_json       json,
    c_jsonb      jsonb,
    c_xml        xml,
    c_inet       inet,
    c_cidr       cidr,
    c_macaddr    macaddr,
    c_macaddr8   macaddr8,
    c_bit        bit(12),
    c_varbit     bit varying(20),
    c_int_arr    integer[],
    c_text_arr   text[],
    c_num_arr    numeric[],
    c_enum       mood,
    c_domain     posint,
    c_hstore     public.hstore,
    c_ltree      public.ltree,
    c_point      point,
    c_tsvector   tsvector,
    c_citext     public.citext,
    c_ts3        timestamp(3),       -- adaptive: milliseconds (io.debezium.time.Timestamp)
    c_time3      time(3)             -- adaptive: milliseconds; adaptive_time_microseconds: µs
);
ALTER TABLE zoo REPLICA IDENTITY FULL;

INSERT INTO zoo VALUES
(1, 12, 123456, 1234567890123, 12345.67891, 3.14159265358979323846, 1234.56, 1.5, 2.718281828459045,
 true, 'ab', 'varchar é', E'text with \'quotes\', \\ and ünïcödé ✓', '\x00ff10'::bytea,
 '2024-02-29', '13:45:12.345678', '10:34:56.789+02', '2024-05-01 12:34:56.123456',
 '2024-05-01 12:34:56.654321+00', '1 day 02:03:04.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
 '{"b": [1, 2.5, "x"], "a": null}', '{"k": {"n": 1}, "s": "t"}', '<a x="1">t</a>',
 '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
 B'101100001111', B'1011', '{1,2,3}', '{"a","b c",NULL}', '{1.5,-2.25}', 'happy', 7,
 'a=>1, b=>"x y"', 'top.middle.leaf', '(1.5,-2.25)', 'a fat cat', 'MiXeD',
 '2024-05-01 12:34:56.123', '13:45:12.345'),
(2, -32768, -2147483648, -9223372036854775808, -999999999999999.99999,
 -123456789012345678901234567890.123456789, -92233720368547758.08, -3.4e38, 1.7976931348623157e308,
 false, '', '', '', ''::bytea,
 '0001-01-01', '00:00:00', '23:59:59.999999+00', '1900-01-01 00:00:00.000001',
 '9999-12-31 23:59:59.999999+00', '-1000 years -2 mons 3 days 04:05:06.000007', '00000000-0000-0000-0000-000000000000',
 '[]', '{}', '<r/>',
 '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff',
 B'000000000000', B'', '{}', '{}', '{}', 'sad', 2147483647,
 '', 'a', '(0,0)', '', '', '1900-01-01 00:00:00.001', '00:00:00.001'),
(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(4, 32767, 2147483647, 9223372036854775807, 999999999999999.99999,
 99999999999999999999999999999999999999999, 92233720368547758.07, 1.17549435e-38, -2.2250738585072014e-308,
 true, 'abcde', repeat('v', 20), repeat('long ', 200), decode(repeat('ab', 300), 'hex'),
 '9999-12-31', '23:59:59.999999', '00:00:00-14', '9999-12-31 23:59:59.999999',
 '1969-12-31 23:59:59.999999+00', '3 mons 4 days -00:00:01', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
 '"just a string"', '[1, {"z": true}]', '<a><b>&amp;</b></a>',
 '2001:db8::1/64', '192.168.100.128/25', '00:00:00:00:00:00', '00:00:00:ff:fe:00:00:00',
 B'111111111111', B'10101010101010101010', '{-1,0,2147483647}', '{"",NULL,"x"}', '{0,1e-20,-7}',
 'ok', 1, 'k=>NULL', 'a.b.c.d.e.f', '(-1e-5,1e10)', 'the:1 quick:2,3', 'ÄÖÜ',
 '9999-12-31 23:59:59.999', '23:59:59.999');

-- one special value per row: numeric NaN, float NaN/±Infinity, date/time ±infinity, time 24:00
INSERT INTO zoo (id, c_numvar, c_num_arr) VALUES (10, 'NaN', '{1,NaN}');
INSERT INTO zoo (id, c_numeric) VALUES (11, 'NaN');
INSERT INTO zoo (id, c_real, c_double) VALUES (12, 'NaN', 'NaN');
INSERT INTO zoo (id, c_real, c_double) VALUES (13, 'Infinity', 'Infinity');
INSERT INTO zoo (id, c_real, c_double) VALUES (14, '-Infinity', '-Infinity');
INSERT INTO zoo (id, c_date, c_ts, c_tstz) VALUES (15, 'infinity', 'infinity', 'infinity');
INSERT INTO zoo (id, c_date, c_ts, c_tstz) VALUES (16, '-infinity', '-infinity', '-infinity');
INSERT INTO zoo (id, c_time) VALUES (17, '24:00:00');
