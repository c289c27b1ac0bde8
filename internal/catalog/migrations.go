package catalog

// migrations are applied in order; each runs once, in its own
// transaction, and is recorded in schema_migrations. Never edit a released
// migration: add a new one.
var migrations = []string{
	// 1: the foundation's tables.
	`
CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY,
	time      TEXT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	target    TEXT NOT NULL,
	result    TEXT NOT NULL,
	details   TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);
CREATE TABLE kv (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE runs (
	id          TEXT PRIMARY KEY,
	job         TEXT NOT NULL,
	source      TEXT NOT NULL,
	repository  TEXT NOT NULL,
	snapshot_id TEXT NOT NULL DEFAULT '',
	started     TEXT NOT NULL,
	finished    TEXT NOT NULL DEFAULT '',
	result      TEXT NOT NULL DEFAULT '',
	record      TEXT NOT NULL
);
CREATE INDEX runs_job ON runs (job, started);
CREATE TABLE snapshots (
	repository  TEXT NOT NULL,
	snapshot_id TEXT NOT NULL,
	job         TEXT NOT NULL,
	source      TEXT NOT NULL,
	time        TEXT NOT NULL,
	record      TEXT NOT NULL,
	PRIMARY KEY (repository, snapshot_id)
);
CREATE TABLE manifests (
	snapshot_id TEXT PRIMARY KEY,
	source      TEXT NOT NULL,
	kind        TEXT NOT NULL,
	sha256      TEXT NOT NULL,
	body        BLOB NOT NULL
);
CREATE TABLE drills (
	id       TEXT PRIMARY KEY,
	job      TEXT NOT NULL,
	started  TEXT NOT NULL,
	finished TEXT NOT NULL DEFAULT '',
	result   TEXT NOT NULL DEFAULT '',
	record   TEXT NOT NULL
);
CREATE TABLE erase_plans (
	id      TEXT PRIMARY KEY,
	created TEXT NOT NULL,
	status  TEXT NOT NULL,
	record  TEXT NOT NULL
);
CREATE TABLE erase_journal (
	plan_id  TEXT NOT NULL,
	step     INTEGER NOT NULL,
	name     TEXT NOT NULL,
	started  TEXT NOT NULL DEFAULT '',
	finished TEXT NOT NULL DEFAULT '',
	result   TEXT NOT NULL DEFAULT '',
	evidence TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (plan_id, step)
);
CREATE TABLE accounts (
	name          TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	roles         TEXT NOT NULL,
	failed_logins INTEGER NOT NULL DEFAULT 0,
	locked_until  TEXT NOT NULL DEFAULT '',
	created       TEXT NOT NULL
);
`,
}
