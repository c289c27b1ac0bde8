// Package audit is Steward's append-only, hash-chained audit log (req 14,
// 15). Each record holds its predecessor's hash, so an edited, removed,
// inserted or reordered record breaks the chain at that point. Records live
// in the catalog and are mirrored as JSON lines in the state dir; Verify
// checks both and that they agree. Details never hold secrets or contract
// content: names of files and objects appear only through HashName.
package audit
