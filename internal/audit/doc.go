// Package audit is Steward's append-only, hash-chained audit log (req 14,
// 15). Each record holds its predecessor's hash, so an edited, removed,
// inserted or reordered record breaks the chain at that point. Records live
// in the catalog and are mirrored as JSON lines in the state dir; Verify
// checks both and that they agree. Details never hold secrets or contract
// content: names of files and objects appear only through HashName.
//
// A chain verifies even when its tail was removed from both, or when it
// was rewritten with every hash recomputed. Anchors close that hole: the
// highest head a signed report carries (ReportAnchor, in the catalog) and
// signed checkpoints of the head kept outside the catalog (WriteCheckpoint,
// ReadCheckpoints). Verify checks that the log still holds each anchor;
// CheckExport checks that an export holds a given head.
package audit
