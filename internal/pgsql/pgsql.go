package pgsql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"steward/internal/config"
	"steward/internal/keys"
)

// connectTimeout bounds a connection attempt: bad input fails fast.
const connectTimeout = 15 * time.Second

// Connect opens a connection to src's database with the resolved password.
// Errors say what to fix: the database, the login or the address.
func Connect(ctx context.Context, src *config.PostgresSource, password keys.Secret) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port = src.Host, uint16(src.Port)
	cfg.Database, cfg.User = src.Database, src.User
	cfg.Password = string(password.Reveal())
	cfg.ConnectTimeout = connectTimeout
	tlsCfg, err := pgconn.ParseConfig("sslmode=" + src.SSLMode + " host=" + src.Host)
	if err != nil {
		return nil, fmt.Errorf("sslmode %q: %w", src.SSLMode, err)
	}
	cfg.TLSConfig, cfg.Fallbacks = tlsCfg.TLSConfig, nil
	for _, fb := range tlsCfg.Fallbacks {
		cfg.Fallbacks = append(cfg.Fallbacks, &pgconn.FallbackConfig{Host: src.Host, Port: uint16(src.Port), TLSConfig: fb.TLSConfig})
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classify(src, err)
	}
	return conn, nil
}

func classify(src *config.PostgresSource, err error) error {
	where := fmt.Sprintf("postgres %s:%d", src.Host, src.Port)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "3D000":
			return fmt.Errorf("%s: %w: %q (check the source's database name)", where, ErrNoDatabase, src.Database)
		case "28P01", "28000":
			return fmt.Errorf("%s: %w for user %q (check user and password)", where, ErrAuth, src.User)
		}
		return fmt.Errorf("%s: %s (%s)", where, pe.Message, pe.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "connect: connection refused") {
		return fmt.Errorf("%s: %w (check host and port, and that the server runs): %v", where, ErrUnreachable, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// ServerMajor is the server's major version (15 for 15.4).
func ServerMajor(ctx context.Context, conn *pgx.Conn) (int, error) {
	var num int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
		return 0, fmt.Errorf("server version: %w", err)
	}
	return num / 10000, nil
}

// Snapshot is an open repeatable-read transaction whose snapshot is
// exported: pg_dump --snapshot=ID and other sessions see exactly its data
// for as long as it stays open.
type Snapshot struct {
	ID string
	tx pgx.Tx
}

// Export begins a read-only repeatable-read transaction on conn and
// exports its snapshot. Close ends it.
func Export(ctx context.Context, conn *pgx.Conn) (*Snapshot, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot transaction: %w", err)
	}
	var id string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&id); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("export snapshot: %w", err)
	}
	return &Snapshot{ID: id, tx: tx}, nil
}

// Close ends the snapshot's transaction.
func (s *Snapshot) Close(ctx context.Context) error { return s.tx.Rollback(ctx) }

// Table is one table's line in the manifest.
type Table struct {
	Schema   string `json:"schema"`
	Name     string `json:"name"`
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"`
}

// ChecksumMethod names the checksum of manifests made before CopyMethod
// (see the package doc); drills still verify them with Manifest.
const ChecksumMethod = "rowmd5sum/v1"

// Manifest computes every user table's row count and ChecksumMethod checksum on conn,
// inside the exported snapshot id (SET TRANSACTION SNAPSHOT), so the
// result describes exactly what pg_dump --snapshot=id dumps. Pass "" to
// use a fresh snapshot (e.g. to check a restored database).
func Manifest(ctx context.Context, conn *pgx.Conn, snapshotID string) ([]Table, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer tx.Rollback(ctx)
	if snapshotID != "" {
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(snapshotID)); err != nil {
			return nil, fmt.Errorf("manifest: import snapshot: %w", err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("manifest: list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Table, error) {
		var t Table
		err := r.Scan(&t.Schema, &t.Name)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: list tables: %w", err)
	}
	for i := range tables {
		t := &tables[i]
		// The md5's hex is parsed once as 128 bits; its first and last 64
		// bits are the two signed integers. OFFSET 0 keeps the subquery
		// from being flattened, which would compute md5(t::text) once per
		// use. sum(bigint) is exact (a numeric result, accumulated in
		// 128-bit integers). Half the CPU of the textbook form, same value.
		q := `SELECT count(*), coalesce(sum(b::bit(64)::bigint), 0)::text, coalesce(sum((b << 64)::bit(64)::bigint), 0)::text
			FROM (SELECT ('x' || md5(t::text))::bit(128) AS b FROM ` + pgx.Identifier{t.Schema, t.Name}.Sanitize() + ` AS t OFFSET 0) AS s`
		var s1, s2 string
		if err := tx.QueryRow(ctx, q).Scan(&t.Rows, &s1, &s2); err != nil {
			return nil, fmt.Errorf("manifest: checksum of a table: %w", err)
		}
		t.Checksum = fmt.Sprintf("%s:%d:%s:%s", ChecksumMethod, t.Rows, s1, s2)
	}
	return tables, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Credentials prepares cmd (a libpq client such as pg_dump or
// pg_restore, whose cmd.Env already holds its base environment) to connect
// to src with password: libpq's connection variables (PGHOST, PGPORT,
// PGUSER, PGDATABASE, PGSSLMODE, none secret) go in its environment, and
// the password in a libpq password file on a memfd that it inherits
// (PGPASSFILE=/dev/fd/N; Passfile). The password is never in argv or the
// environment, where a process of the same user could read it
// (/proc/PID/environ). closeFile closes Steward's copy of the file: call it
// once cmd has started (or will not).
func Credentials(cmd *exec.Cmd, src *config.PostgresSource, password keys.Secret) (closeFile func(), err error) {
	cmd.Env = append(cmd.Env,
		"PGHOST="+src.Host,
		"PGPORT="+strconv.Itoa(src.Port),
		"PGUSER="+src.User,
		"PGDATABASE="+src.Database,
		"PGSSLMODE="+src.SSLMode,
	)
	if len(password) == 0 {
		return func() {}, nil
	}
	f, err := Passfile(password)
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	cmd.Env = append(cmd.Env, fmt.Sprintf("PGPASSFILE=/dev/fd/%d", 2+len(cmd.ExtraFiles)))
	return func() { f.Close() }, nil
}

// Passfile returns a libpq password file (see "The Password File" in the
// PostgreSQL manual) on a memfd: one line "*:*:*:*:password" with ':' and
// '\' escaped, mode 0600 (libpq ignores a password file that others may
// read, or that is not a regular file; a memfd is one). A password with a
// line break cannot be written in it and is refused.
func Passfile(password keys.Secret) (*os.File, error) {
	pw := password.Reveal()
	if strings.ContainsAny(string(pw), "\r\n") {
		return nil, fmt.Errorf("postgres password file: %w", ErrPasswordLineBreak)
	}
	line := make([]byte, 0, len("*:*:*:*:\n")+2*len(pw))
	line = append(line, "*:*:*:*:"...)
	for _, c := range pw {
		if c == ':' || c == '\\' {
			line = append(line, '\\')
		}
		line = append(line, c)
	}
	line = append(line, '\n')
	f, err := keys.MemFile("pgpass", line)
	keys.Secret(line).Wipe()
	if err != nil {
		return nil, fmt.Errorf("postgres password file: %w", err)
	}
	return f, nil
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// FindPgDump returns a pg_dump that can dump a server of major version
// major: override if set, else /usr/lib/postgresql/<major>/bin/pg_dump
// (Debian's layout), else a newer /usr/lib/postgresql/<N>/bin, else
// pg_dump in PATH if it is at least as new as the server.
func FindPgDump(ctx context.Context, major int, override string) (string, error) {
	hint := fmt.Sprintf("install Debian's postgresql-client-%d package (or set the pg_dump path)", major)
	var candidates []string
	if override != "" {
		candidates = []string{override}
	} else {
		candidates = append(candidates, fmt.Sprintf("/usr/lib/postgresql/%d/bin/pg_dump", major))
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		candidates = append(candidates, dirs...)
		if p, err := exec.LookPath("pg_dump"); err == nil {
			candidates = append(candidates, p)
		}
	}
	var found []string
	for _, c := range candidates {
		if st, err := os.Stat(c); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			continue
		}
		v, err := dumpVersion(ctx, c)
		if err != nil {
			found = append(found, c+": "+err.Error())
			continue
		}
		if v >= major {
			return c, nil
		}
		found = append(found, fmt.Sprintf("%s is version %d", c, v))
	}
	if len(found) > 0 {
		return "", fmt.Errorf("%w for PostgreSQL %d (%s): %s", ErrNoPgDump, major, strings.Join(found, "; "), hint)
	}
	return "", fmt.Errorf("%w for PostgreSQL %d: %s", ErrNoPgDump, major, hint)
}

func dumpVersion(ctx context.Context, bin string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version")
	// Not Steward's environment, which may hold env: secrets.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("--version: %w", err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("not pg_dump")
	}
	return strconv.Atoi(string(m[1]))
}
