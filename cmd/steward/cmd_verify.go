package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"time"

	"github.com/urfave/cli/v3"

	"steward/certs"
	"steward/internal/clock"
)

type verifyOptions struct {
	File          string
	CertFile      string
	Fingerprint   string
	AllowSpecimen bool
	AuditLog      string
	Timeout       time.Duration
}

func newVerifyCommand(g *globalOptions) *cli.Command {
	var opts verifyOptions
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify a signed Steward report or deletion certificate (for the city)",
		ArgsUsage: "FILE.pdf",
		Description: `verify checks a PDF that Steward signed: that the one signature is valid
and covers the whole document, who signed it (pin the signer with --cert
or --fingerprint, as given to you by the operator), and that the embedded
evidence matches the SHA-256 printed on the document. It prints the
signer, signing time (and TSA time), certificate id, contract, status,
exceptions and the audit-log head the document carries. It needs no state
dir and changes nothing.

A document marked SPECIMEN / 見本 (what "steward certificate render" makes)
certifies nothing: verify says so and exits 3, unless --allow-specimen is
given, when it exits 0 and still says it is a specimen.

With --audit-log EXPORT (a file from "steward audit export" that covers the
document's date), verify also checks that the export is one intact hash
chain and holds the audit-log head the document carries, with the same
hash: a log that lost its tail or was rewritten after the document was
made fails this check.
Exit 0 only if every check holds, 3 otherwise.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cert", Usage: "expected signer certificate `FILE` (PEM)", Destination: &opts.CertFile},
			&cli.StringFlag{Name: "fingerprint", Usage: "expected signer certificate SHA-256 `HEX`", Destination: &opts.Fingerprint},
			&cli.BoolFlag{Name: "allow-specimen", Usage: "accept a SPECIMEN / 見本 as such (exit 0, still reported as a specimen)", Destination: &opts.AllowSpecimen},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "give up on a PDF that takes longer than `DURATION` to read (not verified, exit 3)", Destination: &opts.Timeout},
			&cli.StringFlag{Name: "audit-log", Usage: "check the document's audit-log head against `EXPORT` (from steward audit export)", Destination: &opts.AuditLog},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if err := requireArgs(cmd, 1, "one PDF file"); err != nil {
				return err
			}
			opts.File = cmd.Args().First()
			return runVerify(ctx, opts, g, g.stdout)
		},
	}
}

func runVerify(ctx context.Context, opts verifyOptions, g *globalOptions, out io.Writer) error {
	if opts.CertFile != "" && opts.Fingerprint != "" {
		return usageErr(fmt.Errorf("--cert and --fingerprint both pin the signer: give one"))
	}
	if opts.AuditLog != "" {
		if _, err := os.Stat(opts.AuditLog); err != nil {
			return usageErr(fmt.Errorf("--audit-log: %w (give a file written by steward audit export)", err))
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	res, err := guardedVerify(ctx, opts.File, opts.Timeout, certs.VerifyOptions{CertFile: opts.CertFile, Fingerprint: opts.Fingerprint,
		AllowSpecimen: opts.AllowSpecimen, AuditLog: opts.AuditLog})
	if res == nil {
		return err
	}
	// Print times in the configured zone (Asia/Tokyo without a config).
	loc, _ := clock.LoadZone("")
	if cfg, cerr := g.loadConfig(); cerr == nil {
		if l, lerr := clock.LoadZone(cfg.Contract.TimeZone); lerr == nil {
			loc = l
		}
	}
	for _, t := range []*time.Time{res.SigningTime, res.TimestampTime} {
		if t != nil {
			*t = t.In(loc)
		}
	}
	if g.JSON {
		if perr := printJSON(out, res); perr != nil {
			return perr
		}
	} else {
		fmt.Fprint(out, res.String())
	}
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("%s does not verify%w", opts.File, quiet(certs.ErrVerificationFailed))
	}
	return nil
}

// verifyHeapLimit bounds guardedVerify's heap: a document Steward signs
// is read in well under a second and a few tens of MiB.
const verifyHeapLimit = uint64(512 << 20)

// guardedVerify runs certs.Verify, but gives up — not verified, exit 3 —
// when parsing the PDF takes longer than timeout (--timeout) or its heap
// grows past verifyHeapLimit. The PDF parser (github.com/digitorus/pdf
// v0.1.2, no fixed release yet) loops forever, growing without bound, on
// an array left open before endobj (found by certs.FuzzVerify). A
// goroutine cannot be stopped, so this is for the CLI only: the process
// exits with the error and takes the loop with it.
func guardedVerify(ctx context.Context, file string, timeout time.Duration, o certs.VerifyOptions) (*certs.VerifyResult, error) {
	type result struct {
		res *certs.VerifyResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := certs.Verify(ctx, file, o)
		done <- result{res, err}
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for {
		select {
		case r := <-done:
			return r.res, r.err
		case <-deadline.C:
			return nil, fmt.Errorf("%s: not verified: reading the PDF did not finish within %s; it is malformed (or far larger than any document Steward signs)%w",
				file, timeout, quiet(certs.ErrVerificationFailed))
		case <-tick.C:
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() > verifyHeapLimit {
				return nil, fmt.Errorf("%s: not verified: reading the PDF took more than %d MiB of memory; it is malformed (or far larger than any document Steward signs)%w",
					file, verifyHeapLimit>>20, quiet(certs.ErrVerificationFailed))
			}
		}
	}
}
