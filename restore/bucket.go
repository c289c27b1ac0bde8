package restore

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"steward/internal/objstore"
	"steward/internal/progress"
	"steward/internal/resticx"
)

// restoreBucket streams the snapshot's tar archive (restic dump) into a
// bucket (created when missing) or a directory.
func (r *Restorer) restoreBucket(ctx context.Context, rs *Resolved, snap Snapshot, to Target, res *Result, p *progress.Meter) error {
	var put func(hdr *tar.Header, rd io.Reader) error
	if to.Bucket != nil {
		b, err := objstore.New(*to.Bucket)
		if err != nil {
			return err
		}
		region := to.Bucket.Region
		if region == "" && len(r.cfg.Residency.AllowedRegions) > 0 {
			region = r.cfg.Residency.AllowedRegions[0]
		}
		created, err := b.MakeBucket(ctx, region)
		if err != nil {
			return err
		}
		// The bucket must be in an allowed region before any byte is
		// written (req 2); one made for this restore and refused is
		// removed again, so that the refusal leaves nothing there.
		if _, err := r.repos.CheckRegion(ctx, "restore-target:"+to.Bucket.Bucket, "restore target", b); err != nil {
			if created {
				if _, rerr := b.WithBucket(to.Bucket.Bucket, "").RemoveBucket(context.WithoutCancel(ctx), objstore.DeleteOptions{}); rerr != nil {
					err = errors.Join(err, fmt.Errorf("remove the bucket made for the refused restore: %w", rerr))
				}
			}
			return err
		}
		put = func(hdr *tar.Header, rd io.Reader) error {
			// Content type and user metadata travel in the archive's
			// headers (objstore.ArchiveRecords).
			return b.Put(ctx, hdr.Name, rd, hdr.Size, objstore.PutOptionsFromArchive(hdr.PAXRecords))
		}
	} else {
		if err := os.MkdirAll(to.Dir, 0o700); err != nil {
			return err
		}
		put = func(hdr *tar.Header, rd io.Reader) error {
			return writeFile(to.Dir, hdr.Name, rd, hdr.ModTime)
		}
	}
	err := r.dump(ctx, rs, snap, func(in io.Reader) error {
		err := untar(in, p, res, put)
		if err == nil {
			_, _ = io.Copy(io.Discard, in) // tar padding after the end marker
		}
		return err
	})
	if errors.Is(err, resticx.ErrConsumerDone) {
		err = nil
	}
	return err
}
