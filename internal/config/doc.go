// Package config reads Steward's one YAML config file, fills defaults and
// validates every field, reporting all problems at once with the path to
// each field and what to do about it.
package config
