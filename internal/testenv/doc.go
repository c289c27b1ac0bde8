// Package testenv starts the real components Steward's integration tests
// run against — a versitygw S3 server and a PostgreSQL server — and finds
// the pinned tools (restic, versitygw) that scripts/setup.sh builds into
// <module root>/bin.
//
// Everything here is for tests: each helper takes the test, calls
// t.Helper, fails the test (t.Fatalf) on error and stops what it started
// with t.Cleanup. A missing component FAILS the test with a message that
// names ./scripts/setup.sh; nothing skips, so a machine that is not set up
// cannot pass the suite by accident.
//
// # Tools
//
//	restic := testenv.Bin(t, "restic") // <root>/bin/restic at the pinned version, never PATH
//	root := testenv.RepoRoot(t)        // nearest dir with go.mod
//
// # S3
//
//	s := testenv.StartS3(t)                  // ap-northeast-1
//	us := testenv.StartS3(t, testenv.WithRegion("us-east-1"))
//	s.MakeBucket(t, "backups", testenv.WithVersioning())
//	c := s.Client(t)                         // *minio.Client, root user, s.Region
//	s.CreateUser(t, "special", "secret-…", testenv.RoleUser)
//	s.DeleteUser(t, "special")
//	s.Stop(); s.Restart()                    // same ports, data and keys
//	s.Kill()                                 // SIGKILL, like a crash
//
// The server is versitygw with the posix backend in a temp dir
// (s.Dir/root, with versioning in s.Dir/versions and the internal IAM in
// s.Dir/iam), listening on 127.0.0.1 only, on free ports for the S3 API
// (s.Endpoint, s.URL) and the admin API (s.AdminEndpoint). The root keys
// (s.AccessKey, s.SecretKey) are random per server and reach it through
// its environment. Stop and Kill may be called from another goroutine to
// cut a transfer off midway; Restart must be called from the test's own.
//
// versitygw refuses a request signed for another region
// (AuthorizationHeaderMalformed, with the expected region in the error's
// Region element). minio-go with an empty Region learns a bucket's region
// from exactly that error, so GetBucketLocation works, but restic and
// other clients must be given the server's region (s.Region).
//
// # PostgreSQL
//
//	p := testenv.StartPostgres(t)
//	p.CreateDatabase(t, "contracts")
//	p.Exec(t, "contracts", "CREATE TABLE t (id int)")
//	rows := p.Query(t, "contracts", "SELECT count(*) FROM t") // [][]any
//	conn := p.Connect(t, "contracts")                          // *pgx.Conn
//	dump := exec.Command(filepath.Join(p.BinDir, "pg_dump"), "-d", "contracts")
//	dump.Env = append(os.Environ(), p.Env()...)                // password via PGPASSWORD
//
// The cluster is made by initdb from Debian's postgresql package (the
// newest /usr/lib/postgresql/<major>/bin, else postgres in PATH) in a new
// dir under the system temp dir, runs with fsync off on a free port on
// 127.0.0.1 and a unix socket in p.SocketDir, and asks every connection
// for the superuser's random password (SCRAM). When the tests run as root,
// as CI does, initdb and the server run as the postgres system user.
// p.BinDir holds pg_dump and pg_restore of the server's major version.
//
// # A full disk
//
//	testenv.SmallDisk(t, 4<<20, func(dir string) { // a 4 MiB tmpfs at dir
//		// … make files in dir …
//		filler := testenv.FillDisk(t, dir) // writes until ENOSPC
//		// … the disk is full …
//		os.Remove(filler) // space again
//	})
//
// The tmpfs is mounted in a user and mount namespace of its own, which
// needs a process of its own: SmallDisk runs the calling test again in a
// child process and reports its failures; fn runs there only. It needs no
// root where the kernel allows unprivileged user namespaces; where it does
// not (or off Linux), the test is skipped, saying why.
//
// # Logs
//
// Each server's output goes to a log file in its dir (S3Server.LogPath,
// Postgres.LogPath); when a test fails, its cleanup prints the log's tail,
// and so does a server that does not start. Every wait is bounded: a
// server must answer within a minute and stop within seconds.
package testenv
