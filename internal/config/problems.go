package config

import (
	"fmt"
	"iter"
	"strings"
)

// Problem is one thing wrong in a config file.
type Problem struct {
	// Path is the field, e.g. "sources[2].s3.bucket".
	Path string `json:"path"`
	// Line is the line in the file (0 when unknown or missing).
	Line int `json:"line,omitempty"`
	// Message says what is wrong and what to do.
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Message)
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found in a config; it is the error Load returns.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config has %d problem(s):", len(ps))
	for _, p := range ps {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// collector gathers the problems of one config: first those of its text
// (walk: unknown keys, values that do not decode), then those of its
// meaning (validate).
type collector struct {
	lines    map[string]int
	problems Problems
	// unread holds the paths whose values could not be read: those walk
	// reported, and the key a misspelt one was probably meant to be. What
	// validation finds at or below them (a required field "missing") is
	// the same problem again, so it is not reported.
	unread map[string]bool
	// validating is set once walk is done.
	validating bool
}

func newCollector() *collector {
	return &collector{lines: map[string]int{}, unread: map[string]bool{}}
}

func (c *collector) add(path, format string, args ...any) {
	if c.validating && c.isUnread(path) {
		return
	}
	if path == "" {
		path = "(file)" // the document itself, e.g. a list where the config's keys belong
	}
	c.problems = append(c.problems, Problem{Path: path, Line: c.line(path), Message: fmt.Sprintf(format, args...)})
}

// startValidation marks the paths walk reported as unread; from now on
// problems at or below them are dropped.
func (c *collector) startValidation() {
	for _, p := range c.problems {
		c.unread[p.Path] = true
	}
	c.validating = true
}

func (c *collector) isUnread(path string) bool {
	for p := range pathAndParents(path) {
		if c.unread[p] {
			return true
		}
	}
	return false
}

// line finds the closest line known for path or one of its parents.
func (c *collector) line(path string) int {
	for p := range pathAndParents(path) {
		if l, ok := c.lines[p]; ok {
			return l
		}
	}
	return 0
}

// pathAndParents yields path, then each of its parents: "jobs[0].sources",
// "jobs[0]", "jobs".
func pathAndParents(path string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for p := path; p != ""; {
			if !yield(p) {
				return
			}
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				return
			}
			p = p[:i]
		}
	}
}
