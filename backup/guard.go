package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"steward/internal/keys"
	"steward/internal/objstore"
)

// LocalAttested is the residency answer for a local path: Steward cannot
// ask a disk where it is, so the operator attests it.
const LocalAttested = "local (operator-attested)"

// Residency is the answer of one data-residency check (req 2).
type Residency struct {
	// Target is "repository:<name>" or "source:<name>".
	Target string `json:"target"`
	// Bucket and Endpoint locate an S3 target ("" for local paths).
	Bucket   string `json:"bucket,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	// Region is the region the server reported for the bucket.
	Region  string `json:"region,omitempty"`
	Allowed bool   `json:"allowed"`
	// Answer is what reports print: "ap-northeast-1 (allowed)",
	// "us-east-1 (refused)" or LocalAttested.
	Answer string `json:"answer"`
}

// checkRegion asks the server where the bucket is (the client's region is
// empty, so the answer is the server's) and compares it with
// residency.allowed_regions and with the region the config names.
func (e *Engine) checkRegion(ctx context.Context, target, field string, c *objstore.Client) (Residency, error) {
	t := c.Target()
	res := Residency{Target: target, Bucket: t.Bucket, Endpoint: t.Host}
	ctx, cancel := context.WithTimeout(ctx, e.probeTimeout())
	defer cancel()
	region, err := c.BucketRegion(ctx)
	if err != nil {
		res.Answer = "unknown (" + errText(err) + ")"
		return res, fmt.Errorf("%s (%s): %w", target, field, err)
	}
	res.Region = region
	allowed := e.cfg.Residency.AllowedRegions
	if !slices.Contains(allowed, region) {
		res.Answer = region + " (refused)"
		return res, fmt.Errorf("%w: %s: bucket %q at %s is in region %q (allowed: %s); see residency.allowed_regions (req 2): nothing was written",
			ErrResidency, target, t.Bucket, t.Host, region, strings.Join(allowed, ", "))
	}
	if t.Region != "" && t.Region != region {
		res.Answer = region + " (config says " + t.Region + ")"
		return res, fmt.Errorf("%s: %s.region says %q but the server reports %q for bucket %q: correct the config",
			target, field, t.Region, region, t.Bucket)
	}
	res.Allowed = true
	res.Answer = region + " (allowed)"
	return res, nil
}

// checkRepoResidency checks an S3 repository (local ones are attested) and
// gives restic the region the server reported.
func (e *Engine) checkRepoResidency(ctx context.Context, r *repo) error {
	if r.s3 == nil {
		r.residency = Residency{Target: "repository:" + r.name(), Allowed: true, Answer: LocalAttested}
		return nil
	}
	res, err := e.checkRegion(ctx, "repository:"+r.name(), e.field("repositories", r.name())+".s3", r.s3)
	r.residency = res
	if err != nil {
		return err
	}
	r.restic.Env["AWS_DEFAULT_REGION"] = keys.Secret(res.Region)
	return nil
}

// isBadInput reports errors an operator fixes in the config or the
// environment (as opposed to failures during a backup).
func isBadInput(err error) bool {
	return errors.Is(err, ErrResidency) || errors.Is(err, objstore.ErrAccessDenied) ||
		errors.Is(err, objstore.ErrNoSuchBucket) || errors.Is(err, objstore.ErrUnreachable)
}
