package pgsql

import "errors"

var (
	// ErrNoDatabase means the database named in the config does not exist.
	ErrNoDatabase = errors.New("database does not exist")
	// ErrAuth means the server refused the user or password.
	ErrAuth = errors.New("PostgreSQL refused the login")
	// ErrUnreachable means no server answered at host:port.
	ErrUnreachable = errors.New("PostgreSQL does not answer")
	// ErrNoPgDump means no suitable pg_dump was found.
	ErrNoPgDump = errors.New("pg_dump not found")
	// ErrPasswordLineBreak means a PostgreSQL password holds a line break,
	// which libpq's password file cannot carry.
	ErrPasswordLineBreak = errors.New("the password holds a line break, which libpq's password file cannot carry: choose a password without one")
)
