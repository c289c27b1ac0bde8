package erase

import (
	"fmt"

	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/objstore"
	"steward/internal/repo"
)

// Erase works with the credentials the config names for it
// (repositories[].erase, sources[].erase), falling back to the backup
// ones (config decides the fallback).

// eraseRepo resolves repository name (without its password); an S3
// repository's client and target carry the erase keys.
func (e *Eraser) eraseRepo(name string) (*repo.Repo, error) {
	r, err := e.repos.Resolve(name, false)
	if err != nil || r.S3 == nil {
		return r, err
	}
	s3, from := r.Config.EraseS3()
	tg, err := e.repos.S3Target(repo.Field(e.cfg, "repositories", name)+"."+from, s3)
	if err != nil {
		return nil, err
	}
	c, err := objstore.New(tg)
	if err != nil {
		return nil, err
	}
	r.S3, r.Target = c, tg
	return r, nil
}

// sourceBucket is a client for an S3 source's whole bucket with the erase
// keys.
func (e *Eraser) sourceBucket(name string) (*objstore.Client, objstore.Target, error) {
	s, ok := e.cfg.Source(name)
	if !ok || s.S3 == nil {
		return nil, objstore.Target{}, fmt.Errorf("source %q is no longer an S3 source in the config", name)
	}
	s3, from := s.EraseS3()
	tg, err := e.repos.S3Target(sourceField(e.cfg, name)+"."+from, s3)
	if err != nil {
		return nil, objstore.Target{}, err
	}
	tg.Prefix = ""
	c, err := objstore.New(tg)
	return c, tg, err
}

// sourceDatabase is how erase reaches a postgres source's database: the
// login (connected to an admin database) and its password, and the
// database's name.
func (e *Eraser) sourceDatabase(name string) (*config.PostgresSource, keys.Secret, string, error) {
	s, ok := e.cfg.Source(name)
	if !ok || s.Postgres == nil {
		return nil, nil, "", fmt.Errorf("source %q is no longer a PostgreSQL source in the config", name)
	}
	server, from := s.ErasePostgres()
	pw, err := e.repos.PostgresPassword(sourceField(e.cfg, name)+"."+from, server)
	if err != nil {
		return nil, nil, "", err
	}
	return server, pw, s.Postgres.Database, nil
}

// scratchDatabase is the drill scratch server, connected to its admin
// database.
func (e *Eraser) scratchDatabase() (*config.PostgresSource, keys.Secret, error) {
	pg := e.cfg.Drills.Scratch.Postgres
	if pg == nil {
		return nil, nil, fmt.Errorf("drills.scratch.postgres is no longer configured")
	}
	pw, err := e.repos.PostgresPassword("drills.scratch.postgres", pg)
	if err != nil {
		return nil, nil, err
	}
	admin := *pg
	admin.Database = "postgres"
	return &admin, pw, nil
}
