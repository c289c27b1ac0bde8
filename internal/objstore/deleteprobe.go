package objstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/minio/minio-go/v7"
)

// MayDelete asks the server whether the client's key may delete objects
// in the bucket, without deleting anything: it deletes a version that
// cannot exist of a key that cannot exist (a delete naming a version
// never creates a delete marker). Refused as AccessDenied means no; any
// other answer (success, or no such version) means the request was
// authorised. why says what was seen.
func (c *Client) MayDelete(ctx context.Context) (ok bool, why string, err error) {
	var b [16]byte
	rand.Read(b[:])
	key := c.t.Prefix + "steward-delete-probe-" + hex.EncodeToString(b[:])
	err = c.mc.RemoveObject(ctx, c.t.Bucket, key, minio.RemoveObjectOptions{VersionID: "00000000-0000-0000-0000-000000000000"})
	if err == nil {
		return true, "a delete of a version that does not exist was accepted", nil
	}
	switch code := minio.ToErrorResponse(err).Code; code {
	case "AccessDenied":
		return false, "the key may not delete objects (AccessDenied)", nil
	case "NoSuchBucket":
		return false, "the bucket does not exist", nil
	case "NoSuchVersion", "NoSuchKey", "InvalidArgument", "InvalidVersionId":
		return true, "a delete of a version that does not exist was authorised (" + code + ")", nil
	}
	return false, "", c.fail("probe delete permission", err)
}
