package objstore

import "strings"

// PAX record names under which a bucket source's archive (one tar stream
// per snapshot) keeps what an object carries besides its bytes, so that a
// restore into a bucket gives it back.
const (
	paxContentType = "STEWARD.content-type"
	paxMetaPrefix  = "STEWARD.meta."
)

// ArchiveRecords are the PAX records that keep o's content type and user
// metadata in a tar header (nil when it has neither).
func ArchiveRecords(o Object) map[string]string {
	if o.ContentType == "" && len(o.Metadata) == 0 {
		return nil
	}
	rec := map[string]string{}
	if o.ContentType != "" {
		rec[paxContentType] = o.ContentType
	}
	for k, v := range o.Metadata {
		rec[paxMetaPrefix+strings.ToLower(k)] = v
	}
	return rec
}

// PutOptionsFromArchive reads ArchiveRecords back from a tar header's PAX
// records.
func PutOptionsFromArchive(records map[string]string) PutOptions {
	var o PutOptions
	for k, v := range records {
		switch {
		case k == paxContentType:
			o.ContentType = v
		case strings.HasPrefix(k, paxMetaPrefix):
			if o.Metadata == nil {
				o.Metadata = map[string]string{}
			}
			o.Metadata[strings.TrimPrefix(k, paxMetaPrefix)] = v
		}
	}
	return o
}
