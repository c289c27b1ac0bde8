package catalog

import (
	"context"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/state"
)

// The configured catalog: every command, the daemon and the test
// fixtures open it through OpenConfigured (or make it with
// CreateConfigured), never by naming an implementation.

// PostgresFor returns the PostgreSQL catalog cfg names (ok false when cfg
// has no catalog.postgres: the catalog is SQLite in the state dir). The
// password is resolved from its reference (kr opens a sealed one; nil
// when there is no master key).
func PostgresFor(cfg *config.Config, kr *keys.Keyring) (pc PostgresConfig, ok bool, err error) {
	pg := cfg.Catalog.Postgres
	if pg == nil {
		return PostgresConfig{}, false, nil
	}
	pw, err := keys.Resolve(kr, "catalog.postgres.password", string(pg.Password))
	if err != nil {
		return PostgresConfig{}, true, err
	}
	defer pw.Wipe()
	return PostgresConfig{Host: pg.Host, Port: pg.Port, Database: pg.Database, User: pg.User, Password: string(pw), SSLMode: pg.SSLMode}, true, nil
}

// OpenConfigured opens cfg's catalog: catalog.postgres when set, else
// the SQLite file in the state dir. A catalog not made yet is
// ErrNoCatalog.
func OpenConfigured(ctx context.Context, cfg *config.Config, kr *keys.Keyring) (Store, error) {
	pc, ok, err := PostgresFor(cfg, kr)
	if err != nil {
		return nil, err
	}
	if ok {
		return OpenPostgres(ctx, pc)
	}
	return Open(ctx, state.Dir(cfg.StateDir).Catalog())
}

// CreateConfigured makes cfg's catalog (see OpenConfigured); a
// PostgreSQL database that holds a catalog already is ErrNotEmpty.
func CreateConfigured(ctx context.Context, cfg *config.Config, kr *keys.Keyring) (Store, error) {
	pc, ok, err := PostgresFor(cfg, kr)
	if err != nil {
		return nil, err
	}
	if ok {
		return CreatePostgres(ctx, pc)
	}
	return Create(ctx, state.Dir(cfg.StateDir).Catalog())
}

// Describe names cfg's catalog for operators: the SQLite file's path, or
// the PostgreSQL database as user@host:port/database (no password).
func Describe(cfg *config.Config) string {
	if pg := cfg.Catalog.Postgres; pg != nil {
		return PostgresConfig{Host: pg.Host, Port: pg.Port, Database: pg.Database, User: pg.User}.String()
	}
	return state.Dir(cfg.StateDir).Catalog()
}

// Shared reports whether several daemons may share st (PostgreSQL): then
// each state dir's audit mirror holds only its own daemon's records.
func Shared(st Store) bool {
	_, ok := st.(*Postgres)
	return ok
}
