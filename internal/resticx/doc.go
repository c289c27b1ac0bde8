// Package resticx runs the restic binary (0.18.1 or newer): it finds it,
// passes the repository password through RESTIC_PASSWORD_FILE=/dev/fd/3, a
// pipe restic inherits (never a file on disk, argv or the environment),
// keeps restic's
// cache inside the state dir, runs every call under a context deadline,
// parses restic's JSON messages and maps its exit codes to typed errors.
package resticx
