package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the embedded default config: a local repository under the
// state dir and one path source. examples/minimal.yaml is the same file.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Overrides replace config values from the command line or environment
// before defaults are derived from them.
type Overrides struct {
	// StateDir replaces state_dir (--state-dir, STEWARD_STATE_DIR).
	StateDir string
}

// Load reads, fills defaults and validates the config at path. Any problem
// comes back as Problems, all of them at once.
func Load(path string, ov ...Overrides) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Problems{{Path: "(file)", Message: fmt.Sprintf("config file %s does not exist: pass --config FILE (or set STEWARD_CONFIG); examples/minimal.yaml is a starting point", path)}}
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, filepath.Dir(abs), abs, ov...)
}

// LoadDefault parses the embedded default config; relative paths are
// relative to baseDir (the working directory).
func LoadDefault(baseDir string, ov ...Overrides) (*Config, error) {
	return Parse(defaultYAML, baseDir, "", ov...)
}

// Parse decodes and validates config text. Relative paths are resolved
// against baseDir; path is recorded as the config's origin.
func Parse(data []byte, baseDir, path string, ov ...Overrides) (*Config, error) {
	c := newCollector()
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{Path: "(file)", Message: "the config is empty: start from examples/minimal.yaml"}}
		}
		return nil, Problems{{Path: "(file)", Message: "not valid YAML: " + err.Error()}}
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, Problems{{Path: "(file)", Line: more.Line, Message: "a second YAML document (after ---): the config is one document; remove the --- line or move the second document into its own file"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Problems{{Path: "(file)", Message: "not valid YAML after the first document: " + err.Error()}}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	walk(c, doc, reflect.TypeOf(Config{}), "")
	cfg := &Config{path: path}
	// Type errors were reported with their paths by walk; decode the rest.
	var te *yaml.TypeError
	if err := doc.Decode(cfg); err != nil && !errors.As(err, &te) {
		c.add("(file)", "%v", err)
	}
	for _, o := range ov {
		if o.StateDir != "" {
			sd, err := filepath.Abs(o.StateDir)
			if err != nil {
				return nil, err
			}
			cfg.StateDir = sd
		}
	}
	cfg.applyDefaults(baseDir)
	c.startValidation()
	validate(c, cfg)
	if len(c.problems) > 0 {
		return cfg, c.problems
	}
	return cfg, nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// walk checks n against t: unknown keys, wrong node kinds and values that
// do not decode, each reported with its path. It also records lines.
func walk(c *collector, n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		c.lines[path] = n.Line
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() != reflect.Struct && t.Kind() != reflect.Slice {
		if t.Kind() == reflect.Map || t.Kind() == reflect.Interface {
			return
		}
		if n.Kind != yaml.ScalarNode {
			c.add(path, "expected a single value here, not a %s", kindName(n.Kind))
			return
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			c.add(path, "%s", decodeMessage(err, t))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.add(path, "expected a section of keys here, not a %s", kindName(n.Kind))
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		var meant []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := join(path, k.Value)
			c.lines[sub] = k.Line
			if seen[k.Value] {
				c.add(sub, "key appears twice: keep one")
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				name := closest(k.Value, fields)
				if name != "" {
					c.add(sub, "unknown key %q: did you mean %q?", k.Value, name)
					meant = append(meant, name)
				} else {
					c.add(sub, "unknown key %q: valid keys here are %s", k.Value, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
				}
				continue
			}
			walk(c, v, ft, sub)
		}
		// A misspelt key leaves the one it was meant to be unset: that is
		// the problem already reported, not a second one.
		for _, name := range meant {
			if !seen[name] {
				c.unread[join(path, name)] = true
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.add(path, "expected a list here (items starting with \"- \"), not a %s", kindName(n.Kind))
			return
		}
		for i, item := range n.Content {
			walk(c, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		m[name] = f.Type
	}
	return m
}

// closest is the field name key was probably meant to be ("" if none is
// close).
func closest(key string, fields map[string]reflect.Type) string {
	norm := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	for _, n := range slices.Sorted(maps.Keys(fields)) {
		if n == norm || distance(n, norm) <= 2 {
			return n
		}
	}
	return ""
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "section of keys"
	case yaml.SequenceNode:
		return "list"
	default:
		return "single value"
	}
}

func decodeMessage(err error, t reflect.Type) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if strings.Contains(msg, "cannot unmarshal") {
			switch t.Kind() {
			case reflect.Int, reflect.Int64:
				return "expected a whole number"
			case reflect.Bool:
				return "expected true or false"
			case reflect.String:
				return "expected text"
			}
		}
		if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
			msg = msg[i+2:]
		}
		return msg
	}
	return err.Error()
}

// distance is the Levenshtein distance, for "did you mean" hints.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
