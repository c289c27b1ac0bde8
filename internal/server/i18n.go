package server

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// defaultLang is the console's language until an operator picks another.
const defaultLang = "ja"

// catalogue is one language's every user-visible string of the console,
// by key (console/i18n/LANG.json).
type catalogue map[string]string

// lookup is the templates' t: a key missing from the catalogue stops the
// page (an error, never a blank label).
func (c catalogue) lookup(key string) (string, error) {
	v, ok := c[key]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrMissingLabel, key)
	}
	return v, nil
}

// text is key's string for handlers; a missing key shows as the key.
func (c catalogue) text(key string) string {
	if v, ok := c[key]; ok {
		return v
	}
	return key
}

// loadCatalogues reads every console/i18n/*.json.
func loadCatalogues() (map[string]catalogue, error) {
	files, err := consoleFS.ReadDir("console/i18n")
	if err != nil {
		return nil, err
	}
	cats := map[string]catalogue{}
	for _, f := range files {
		b, err := consoleFS.ReadFile(path.Join("console/i18n", f.Name()))
		if err != nil {
			return nil, err
		}
		var c catalogue
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("server: console catalogue %s: %w", f.Name(), err)
		}
		cats[strings.TrimSuffix(f.Name(), ".json")] = c
	}
	if cats[defaultLang] == nil {
		return nil, fmt.Errorf("server: no console catalogue for %s", defaultLang)
	}
	return cats, nil
}
