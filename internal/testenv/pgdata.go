package testenv

// TrickyTables is SQL that fills a database with the data a dump and its
// checksums must get right: NULLs; text with tabs, newlines, carriage
// returns, backslashes and a value that reads `\.` (pg_dump's end-of-data
// line); non-ASCII text; bytea; numeric, float and real with NaN and
// infinities; timestamps with and without time zone; dates; intervals;
// arrays; json and jsonb; uuid, inet, ranges, bit strings and a regclass;
// a row of 3 MiB (longer than any read buffer); a table with no rows; one
// with no columns; one whose every row is the empty string; a schema and a
// table whose names need quoting; a generated and a dropped column; a
// partitioned table (two partitions); and a large object. It also gives
// the database session defaults unlike pg_dump's (time zone, bytea
// output, date, interval and float styles), so that whatever reads the
// data must pin its own.
//
// TrickyTableRows is each table's row count, by "schema.table".
const TrickyTables = `
CREATE SCHEMA "Other schema";
CREATE TABLE public.types (
	id int PRIMARY KEY, t text, b bytea, n numeric, f8 float8, f4 real, tz timestamptz, ts timestamp, d date,
	iv interval, arr text[], ia int[], j jsonb, js json, u uuid, ip inet, r int4range, bits bit varying, reg regclass);
INSERT INTO public.types VALUES
	(1, E'tab\there\nnewline\r\\back\\slash', '\x00ff5c0a', 12345678901234567890.000000001, 0.1, 1.1,
	 '2024-01-02 03:04:05.123456+09', '2024-01-02 03:04:05.5', '2024-02-29', '1 year 2 mons 3 days 04:05:06.789',
	 ARRAY['a', 'b c', NULL, '"q"', 'back\slash', E'new\nline'], '{1,-2,3}', '{"b": 1, "a": [1, 2, {"c": null}], "é": "日本"}',
	 '{"b":1,  "a":2}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '[1,10)', B'1011', 'public.types'),
	(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(3, '', '', 'NaN', 'Infinity', '-Infinity', 'infinity', '-infinity', '4713-01-01 BC', '-178000000 years', '{}', '{}', 'null',
	 '[]', '00000000-0000-0000-0000-000000000000', '::1', 'empty', B'', 'pg_catalog.pg_class'),
	(4, '\.', '\x5c2e', -0.000001, -1.7976931348623157e308, 3.4028235e38, '1999-12-31 23:59:59.999999-12', '1970-01-01',
	 'epoch', '-1 days +00:00:01', '{"\\."}', '{NULL}', '"\\."', '"\\\\"', NULL, NULL, '(,)', NULL, NULL),
	(5, 'Grüße, 日本語, emoji 🙂', '\xdeadbeef', 1e-20, 5e-324, 1e-45, '2038-01-19 03:14:08+00', '2262-04-11 23:47:16.854775',
	 '0001-01-01', '0', '{"x\ty"}', '{2147483647,-2147483648}', '{"deep": {"deeper": [true, false]}}', '{}', NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.types (id, t, b) VALUES (6, repeat('long line ', 314573), decode(repeat('00ff', 5000), 'hex'));
INSERT INTO public.types (id, t, f8) SELECT g, md5(g::text), g / 7.0 FROM generate_series(100, 2099) g;

CREATE TABLE "Other schema"."Café ""list""" ("Name" text, "n/a" int);
INSERT INTO "Other schema"."Café ""list""" VALUES ('a', 1), ('b', NULL), (NULL, 3), ('a', 1);
CREATE TABLE "Other schema".empty (a int, b text);
CREATE TABLE public.no_columns ();
INSERT INTO public.no_columns DEFAULT VALUES;
INSERT INTO public.no_columns DEFAULT VALUES;
CREATE TABLE public.blank (s text);
INSERT INTO public.blank VALUES (''), (''), (NULL), ('');
CREATE TABLE public.gen (a int, dropped text, b int GENERATED ALWAYS AS (a * 2) STORED, c text);
INSERT INTO public.gen (a, dropped, c) SELECT g, 'x', 'c' || g FROM generate_series(1, 50) g;
ALTER TABLE public.gen DROP COLUMN dropped;
CREATE TABLE public.parted (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE public.parted_low PARTITION OF public.parted FOR VALUES FROM (0) TO (100);
CREATE TABLE public.parted_high PARTITION OF public.parted FOR VALUES FROM (100) TO (1000);
INSERT INTO public.parted SELECT g, 'v' || g FROM generate_series(0, 299) g;
SELECT lo_from_bytea(0, 'a large object');

DO $$ BEGIN
	EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Asia/Tokyo');
	EXECUTE format('ALTER DATABASE %I SET bytea_output = %L', current_database(), 'escape');
	EXECUTE format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'SQL, DMY');
	EXECUTE format('ALTER DATABASE %I SET IntervalStyle = %L', current_database(), 'sql_standard');
	EXECUTE format('ALTER DATABASE %I SET extra_float_digits = %L', current_database(), '-3');
END $$;
`

// TrickyTableRows is how many rows each of TrickyTables' tables holds (the
// partitioned parent holds none of its own: its partitions do).
var TrickyTableRows = map[string]int64{
	"public.types":             2006,
	`Other schema.Café "list"`: 4,
	"Other schema.empty":       0,
	"public.no_columns":        2,
	"public.blank":             4,
	"public.gen":               50,
	"public.parted_low":        100,
	"public.parted_high":       200,
}
