package keys

import (
	"slices"
	"strings"

	"steward/internal/config"
)

// CheckConfig checks that every file: and env: secret cfg names under
// one of prefixes (none: all; e.g. "sources[1]") points at a secret here,
// as config problems (exit 2) naming each field, so that a run can refuse
// before it records or writes anything.
func CheckConfig(cfg *config.Config, prefixes ...string) config.Problems {
	var ps config.Problems
	for _, fs := range cfg.SecretRefs() {
		if len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(p string) bool { return fs.Path == p || strings.HasPrefix(fs.Path, p+".") }) {
			continue
		}
		if err := Check(fs.Path, string(fs.Ref)); err != nil {
			ps = append(ps, config.Problem{Path: fs.Path, Message: strings.TrimPrefix(err.Error(), fs.Path+": ")})
		}
	}
	return ps
}
