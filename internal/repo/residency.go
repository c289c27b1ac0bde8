package repo

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

// CheckRegion asks c's server where its bucket is (the client's region is
// empty, so the answer is the server's) and compares it with
// residency.allowed_regions and with the region the config names: the
// residency check (req 2) of any S3 target (repository, source, restore
// target, drill scratch). field is the config path for messages.
func (o *Opener) CheckRegion(ctx context.Context, target, field string, c *objstore.Client) (Residency, error) {
	t := c.Target()
	res := Residency{Target: target, Bucket: t.Bucket, Endpoint: t.Host}
	ctx, cancel := context.WithTimeout(ctx, o.ProbeTimeout())
	defer cancel()
	region, err := c.BucketRegion(ctx)
	if err != nil {
		res.Answer = "unknown (" + oneLine(err) + ")"
		return res, fmt.Errorf("%s (%s): %w", target, field, err)
	}
	res.Region = region
	allowed := o.cfg.Residency.AllowedRegions
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

// CheckResidency checks an S3 repository (local ones are attested), keeps
// the answer in r.Residency and gives restic the region the server
// reported.
func (o *Opener) CheckResidency(ctx context.Context, r *Repo) error {
	if r.S3 == nil {
		r.Residency = Residency{Target: "repository:" + r.Name(), Allowed: true, Answer: LocalAttested}
		return nil
	}
	res, err := o.CheckRegion(ctx, "repository:"+r.Name(), Field(o.cfg, "repositories", r.Name())+".s3", r.S3)
	r.Residency = res
	if err != nil {
		return err
	}
	r.Restic.Env["AWS_DEFAULT_REGION"] = keys.Secret(res.Region)
	return nil
}

// IsBadInput reports errors an operator fixes in the config or the
// environment (a refused region, refused keys, a missing bucket, an
// unreachable endpoint), as opposed to failures during the work.
func IsBadInput(err error) bool {
	return errors.Is(err, ErrResidency) || errors.Is(err, objstore.ErrAccessDenied) ||
		errors.Is(err, objstore.ErrNoSuchBucket) || errors.Is(err, objstore.ErrUnreachable)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
