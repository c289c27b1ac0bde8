package config

import "cmp"

// The erase credentials: sources and repositories may name a login or keys
// that erase uses instead of the backup ones (a read-only backup role
// cannot drop its database, a write-only key cannot delete versions).
// Erase code asks these methods, never the blocks themselves, so that the
// fallback to the backup credential is decided in one place.

// defaultAdminDatabase is where a login connects to drop another database.
const defaultAdminDatabase = "postgres"

// ErasePostgres is how erase connects to drop a postgres source's
// database: the source's server, logged in as sources[].erase.postgres
// when it is set, else as the backup user, and connected to an admin
// database (erase.postgres.database, default postgres), since a session
// cannot drop the database it is connected to. from says where the login
// is set, relative to the source: "erase.postgres" or "postgres" (the
// backup login), for messages. It returns nil for other kinds of
// source.
func (s *Source) ErasePostgres() (server *PostgresSource, from string) {
	if s.Postgres == nil {
		return nil, ""
	}
	c := *s.Postgres
	c.Database = defaultAdminDatabase
	if s.Erase == nil || s.Erase.Postgres == nil {
		return &c, "postgres"
	}
	l := s.Erase.Postgres
	c.User, c.Password = l.User, l.Password
	c.Database = cmp.Or(l.Database, defaultAdminDatabase)
	return &c, "erase.postgres"
}

// EraseS3 is the bucket of an s3 source with the keys erase deletes its
// objects and versions with: sources[].erase.s3 when set, else the backup
// keys. from is "erase.s3" or "s3" (the backup keys). It returns nil
// for other kinds of source.
func (s *Source) EraseS3() (target *S3Target, from string) {
	if s.S3 == nil {
		return nil, ""
	}
	var k *S3Keys
	if s.Erase != nil {
		k = s.Erase.S3
	}
	return eraseS3(s.S3, k)
}

// EraseS3 is the bucket of an S3 repository with the keys erase deletes
// its key files, data and versions with: repositories[].erase.s3 when
// set, else the backup keys. from is "erase.s3" or "s3". It returns nil
// for a local repository.
func (r *Repository) EraseS3() (target *S3Target, from string) {
	if r.S3 == nil {
		return nil, ""
	}
	var k *S3Keys
	if r.Erase != nil {
		k = r.Erase.S3
	}
	return eraseS3(r.S3, k)
}

func eraseS3(t *S3Target, k *S3Keys) (*S3Target, string) {
	c := *t
	if k == nil {
		return &c, "s3"
	}
	c.AccessKey, c.SecretKey = k.AccessKey, k.SecretKey
	return &c, "erase.s3"
}
