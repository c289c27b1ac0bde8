package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"steward/internal/auth"
	"steward/internal/errs"
)

// passwordReader reads operator passwords: typed without echo when
// standard input is a terminal (prompts go to standard error), else one
// line each from standard input, in the order the command documents.
// Passwords are never taken from the command line.
type passwordReader struct {
	tty    *os.File
	lines  *bufio.Reader
	stderr io.Writer
}

// passwords is the command's password reader (one per command, so that
// lines piped in are read in order).
func (g *globalOptions) passwords() *passwordReader {
	if g.pw == nil {
		g.pw = &passwordReader{stderr: g.stderr}
		if f, ok := g.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			g.pw.tty = f
		} else {
			g.pw.lines = bufio.NewReader(io.LimitReader(g.stdin, 64*1024))
		}
	}
	return g.pw
}

// read asks for one password with prompt.
func (p *passwordReader) read(prompt string) (string, error) {
	if p.tty != nil {
		fmt.Fprintf(p.stderr, "%s (not echoed): ", prompt)
		b, err := term.ReadPassword(int(p.tty.Fd()))
		fmt.Fprintln(p.stderr)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", prompt, err)
		}
		return string(b), nil
	}
	line, err := p.lines.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errs.Usage("%s: nothing more on standard input (give one password per line, or run on a terminal)", prompt)
		}
		return "", fmt.Errorf("read %s: %w", prompt, err)
	}
	if len(line) > auth.MaxPasswordLength+2 {
		return "", errs.Usage("%s: the line on standard input is longer than %d bytes", prompt, auth.MaxPasswordLength)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readNew asks for a new password: twice on a terminal (the two must
// match), once from standard input.
func (p *passwordReader) readNew(prompt string) (string, error) {
	pw, err := p.read(prompt)
	if err != nil || p.tty == nil {
		return pw, err
	}
	again, err := p.read(prompt + ", again")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errs.Usage("%s: the two entries differ; nothing was changed", prompt)
	}
	return pw, nil
}

// loginPassword is an app.PasswordFunc over the reader.
func (p *passwordReader) loginPassword(name string) (string, error) {
	return p.read("password of operator " + name)
}
