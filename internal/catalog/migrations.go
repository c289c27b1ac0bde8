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
	// 2: manifest bodies stored once by SHA-256 (a no-change run names the
	// body its previous run stored) and in compressed chunks (a body is
	// streamed in and out, never held whole in memory).
	`
CREATE TABLE manifest_bodies (
	sha256 TEXT PRIMARY KEY,
	codec  TEXT NOT NULL,
	size   INTEGER NOT NULL
);
CREATE TABLE manifest_chunks (
	sha256 TEXT NOT NULL REFERENCES manifest_bodies (sha256) ON DELETE CASCADE,
	seq    INTEGER NOT NULL,
	data   BLOB NOT NULL,
	PRIMARY KEY (sha256, seq)
);
INSERT INTO manifest_bodies (sha256, codec, size)
	SELECT sha256, 'identity', length(body) FROM manifests GROUP BY sha256;
INSERT INTO manifest_chunks (sha256, seq, data)
	SELECT sha256, 0, body FROM manifests GROUP BY sha256;
ALTER TABLE manifests DROP COLUMN body;
CREATE INDEX manifests_sha256 ON manifests (sha256);
`,
	// 3: operator accounts (issue 15). Migration 1's accounts table was
	// never used; it stays, empty, as released migrations are never
	// edited.
	`
CREATE TABLE operators (
	name             TEXT PRIMARY KEY,
	role             TEXT NOT NULL,
	hash             TEXT NOT NULL,
	disabled         INTEGER NOT NULL DEFAULT 0,
	failures         INTEGER NOT NULL DEFAULT 0,
	locked_until     TEXT NOT NULL DEFAULT '',
	created          TEXT NOT NULL,
	updated          TEXT NOT NULL,
	password_changed TEXT NOT NULL DEFAULT ''
);
`,
	// 4: the claims of scheduled runs (ScheduleStore): daemons sharing a
	// catalog make each scheduled run once.
	`
CREATE TABLE schedule_claims (
	job     TEXT NOT NULL,
	due     TEXT NOT NULL,
	daemon  TEXT NOT NULL,
	claimed TEXT NOT NULL,
	PRIMARY KEY (job, due)
);
`,
}
