package config

import (
	"fmt"
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

type collector struct {
	lines    map[string]int
	problems Problems
}

func (c *collector) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Line: c.line(path), Message: fmt.Sprintf(format, args...)})
}

// line finds the closest line known for path or one of its parents.
func (c *collector) line(path string) int {
	for p := path; p != ""; {
		if l, ok := c.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}
