package pgsql

import (
	"context"
	"fmt"

	"steward/internal/config"
	"steward/internal/keys"
)

// DatabaseStats is what a database holds, counted for an erase plan.
type DatabaseStats struct {
	Exists bool
	Bytes  int64 // pg_database_size
	Tables int64 // user tables, all schemas
	Owner  string
	// CanDrop says whether the connecting role may drop the database (it
	// owns it or is a superuser), and Why says which.
	CanDrop bool
	Why     string
}

// Stats counts database name on server as the connecting role sees it.
// A missing database is Exists false, not an error.
func Stats(ctx context.Context, server *config.PostgresSource, pw keys.Secret, name string) (DatabaseStats, error) {
	var st DatabaseStats
	conn, err := Connect(ctx, on(server, server.Database), pw)
	if err != nil {
		return st, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var super bool
	err = conn.QueryRow(ctx, `SELECT d.datname IS NOT NULL, coalesce(pg_get_userbyid(d.datdba), ''), r.rolsuper,
		coalesce(pg_has_role(current_user, d.datdba, 'MEMBER'), false)
		FROM pg_roles r LEFT JOIN pg_database d ON d.datname = $1 WHERE r.rolname = current_user`, name).Scan(&st.Exists, &st.Owner, &super, &st.CanDrop)
	if err != nil {
		return st, fail(server, "read database "+name, err)
	}
	switch {
	case !st.Exists:
		return st, nil
	case super:
		st.CanDrop, st.Why = true, fmt.Sprintf("%s is a superuser", server.User)
	case st.CanDrop:
		st.Why = fmt.Sprintf("%s owns it (owner %s)", server.User, st.Owner)
	default:
		st.Why = fmt.Sprintf("%s is neither its owner (%s) nor a superuser", server.User, st.Owner)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_database_size($1)`, name).Scan(&st.Bytes); err != nil {
		return st, fail(server, "size database "+name, err)
	}
	dconn, err := Connect(ctx, on(server, name), pw)
	if err != nil {
		return st, err
	}
	defer dconn.Close(context.WithoutCancel(ctx))
	if err := dconn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`).Scan(&st.Tables); err != nil {
		return st, fail(server, "count the tables of "+name, err)
	}
	return st, nil
}
