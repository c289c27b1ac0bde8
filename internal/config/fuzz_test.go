package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configSeeds are whole config documents: the examples, the test
// documents, and edge cases of YAML itself.
func configSeeds(f *testing.F) {
	f.Helper()
	for _, p := range []string{"../../examples/minimal.yaml", "../../examples/full.yaml", "default.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "---", "--- {}\n--- {}\n", "[]", "null", "~", "a: &a [*a]", "contract: *x",
		"contract: {id: C1, customer: City, service: Svc, end_date: 2099-13-45}",
		"sources: [{name: s1, path: {path: /tmp/s1}}, {name: s1}]",
		"jobs: [{name: j, schedule: \"TZ=0\"}]",
		"repositories: [{name: r, s3: {bucket: b, region: us-east-1, access_key: AKIAINLINE}}]",
		"state_dir: \"\\0\"\n",
		"drills: {schedule: \"@every 0s\"}",
		"retention: {keep_within: 1e300d}",
		"contract:\n  id: C1\n  id: C2\n",
		"\xff\xfe",
		"a: b: c",
	} {
		f.Add([]byte(s))
	}
}

// FuzzConfig: Parse never panics on any document; what it refuses comes
// back as Problems, each naming a field path (or "(file)" for the text as
// a whole) and saying what is wrong; what it accepts has only secret
// references of a known scheme and only schedules the daemon can run.
func FuzzConfig(f *testing.F) {
	configSeeds(f)
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, base, filepath.Join(base, "steward.yaml"))
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse: %T %v, want Problems", err, err)
			}
			if len(ps) == 0 {
				t.Fatal("Parse refused the document with no problem listed")
			}
			for _, p := range ps {
				if p.Path == "" || p.Message == "" {
					t.Fatalf("a problem names no field path or says nothing: %#v", p)
				}
			}
			return
		}
		for _, s := range cfg.SecretRefs() {
			if err := s.Ref.Check(); err != nil {
				t.Fatalf("accepted %s with a bad secret reference: %v", s.Path, err)
			}
		}
		for i, j := range cfg.Jobs {
			if _, err := ParseSchedule(j.Schedule, scheduleZone(cfg), time.Now()); err != nil {
				t.Fatalf("accepted jobs[%d].schedule %q: %v", i, j.Schedule, err)
			}
		}
	})
}

// FuzzDuration: ParseDuration never panics; what it accepts is never
// negative (a wrapped out-of-range value would be), and its String form
// parses back to the same duration.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"7d", "1.5d", "36h", "90m", "1h30m", "0", "0d", "106751d", "106752d", "1e300d", "Infd", "NaNd", "-1d",
		"-1h", "9999999999h", "0x10d", "1_0d", ".5d", "d", "", " 7d ", "1e-300d", "5e-324d", "2562047h47m16.854775807s", "2562047h47m16.854775808s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), "duration") {
				t.Fatalf("ParseDuration(%q): error %q does not say it is about a duration", s, err)
			}
			return
		}
		if d < 0 || int64(d) == math.MinInt64 {
			t.Fatalf("ParseDuration(%q) = %d ns: negative", s, int64(d))
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, its String %q reads back as %v, %v", s, d.D(), d.String(), back.D(), err)
		}
	})
}

// FuzzSecretRef: a reference is accepted only with a known scheme and
// something after the colon; neither the error nor String ever echoes
// what follows the colon of a sealed or unknown reference (it may be a
// secret pasted by mistake); and a config that holds it as a password
// reports the field, not the value.
func FuzzSecretRef(f *testing.F) {
	for _, s := range []string{"env:PGPASSWORD", "file:/etc/steward/pg.pass", "sealed:v1:AAAAbbbbCCCC", "sealed:", "env:", "file:",
		"hunter2", "ENV:X", "env", ":x", "sealed:v1:" + strings.Repeat("A", 200), "file:relative/path", "env:A=B", "s3cr3t:value", "\x00:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := SecretRef(s)
		scheme, rest := r.Parts()
		err := r.Check()
		known := scheme == SchemeFile || scheme == SchemeEnv || scheme == SchemeSealed
		if (err == nil) != (known && rest != "") {
			t.Fatalf("Check(%q) = %v", s, err)
		}
		// A sealed value, or an unknown reference (a secret pasted by
		// mistake?), is never echoed: the error and String are fixed texts.
		switch {
		case scheme == SchemeSealed && r.String() != "sealed:…":
			t.Fatalf("String of a sealed reference is %q", r.String())
		case !known && s != "" && r.String() != "[redacted]":
			t.Fatalf("String of %q is %q, want [redacted]", s, r.String())
		case !known && err.Error() != SecretRef("x").Check().Error():
			t.Fatalf("Check's error for %q depends on it: %v", s, err)
		}
	})
}
