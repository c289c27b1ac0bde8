package catalog

// pgMigrations are the PostgreSQL catalog's migrations, applied in order
// like SQLite's (migrations), each once, in its own transaction, and
// recorded in schema_migrations. Their numbering is PostgreSQL's own:
// migration 1 is the whole schema SQLite reached in several steps. Text
// that Steward orders by (times, IDs) is COLLATE "C", so that ORDER BY
// compares bytes as SQLite does. Never edit a released migration: add a
// new one.
var pgMigrations = []string{
	// 1: every table of SQLite's schema (at its migration 4): manifest
	// bodies in chunks by SHA-256, operator accounts and the claims of
	// scheduled runs. (SQLite's unused accounts table is left out.)
	`
CREATE TABLE audit (
	seq       BIGINT PRIMARY KEY,
	time      TEXT COLLATE "C" NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	target    TEXT NOT NULL,
	result    TEXT NOT NULL,
	details   TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);
CREATE TABLE kv (
	key   TEXT COLLATE "C" PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE runs (
	id          TEXT COLLATE "C" PRIMARY KEY,
	job         TEXT COLLATE "C" NOT NULL,
	source      TEXT NOT NULL,
	repository  TEXT COLLATE "C" NOT NULL,
	snapshot_id TEXT NOT NULL DEFAULT '',
	started     TEXT COLLATE "C" NOT NULL,
	finished    TEXT NOT NULL DEFAULT '',
	result      TEXT NOT NULL DEFAULT '',
	record      TEXT NOT NULL
);
CREATE INDEX runs_job ON runs (job, started);
CREATE TABLE snapshots (
	repository  TEXT COLLATE "C" NOT NULL,
	snapshot_id TEXT COLLATE "C" NOT NULL,
	job         TEXT COLLATE "C" NOT NULL,
	source      TEXT NOT NULL,
	time        TEXT COLLATE "C" NOT NULL,
	record      TEXT NOT NULL,
	PRIMARY KEY (repository, snapshot_id)
);
CREATE TABLE manifest_bodies (
	sha256 TEXT COLLATE "C" PRIMARY KEY,
	codec  TEXT NOT NULL,
	size   BIGINT NOT NULL
);
CREATE TABLE manifest_chunks (
	sha256 TEXT COLLATE "C" NOT NULL REFERENCES manifest_bodies (sha256) ON DELETE CASCADE,
	seq    INTEGER NOT NULL,
	data   BYTEA NOT NULL,
	PRIMARY KEY (sha256, seq)
);
CREATE TABLE manifests (
	snapshot_id TEXT COLLATE "C" PRIMARY KEY,
	source      TEXT NOT NULL,
	kind        TEXT NOT NULL,
	sha256      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX manifests_sha256 ON manifests (sha256);
CREATE TABLE drills (
	id       TEXT COLLATE "C" PRIMARY KEY,
	job      TEXT NOT NULL,
	started  TEXT COLLATE "C" NOT NULL,
	finished TEXT NOT NULL DEFAULT '',
	result   TEXT NOT NULL DEFAULT '',
	record   TEXT NOT NULL
);
CREATE TABLE erase_plans (
	id      TEXT COLLATE "C" PRIMARY KEY,
	created TEXT COLLATE "C" NOT NULL,
	status  TEXT NOT NULL,
	record  TEXT NOT NULL
);
CREATE TABLE erase_journal (
	plan_id  TEXT COLLATE "C" NOT NULL,
	step     INTEGER NOT NULL,
	name     TEXT NOT NULL,
	started  TEXT NOT NULL DEFAULT '',
	finished TEXT NOT NULL DEFAULT '',
	result   TEXT NOT NULL DEFAULT '',
	evidence TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (plan_id, step)
);
CREATE TABLE operators (
	name             TEXT COLLATE "C" PRIMARY KEY,
	role             TEXT NOT NULL,
	hash             TEXT NOT NULL,
	disabled         BOOLEAN NOT NULL DEFAULT false,
	failures         INTEGER NOT NULL DEFAULT 0,
	locked_until     TEXT NOT NULL DEFAULT '',
	created          TEXT NOT NULL,
	updated          TEXT NOT NULL,
	password_changed TEXT NOT NULL DEFAULT ''
);
CREATE TABLE schedule_claims (
	job     TEXT COLLATE "C" NOT NULL,
	due     TEXT COLLATE "C" NOT NULL,
	daemon  TEXT NOT NULL,
	claimed TEXT NOT NULL,
	PRIMARY KEY (job, due)
);
`,
}
