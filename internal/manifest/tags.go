package manifest

// Tags every Steward snapshot carries. A data snapshot is tagged steward,
// steward-data, job:<job>, source:<source> and run:<run id>; its manifest
// is the companion snapshot tagged steward-manifest and the same run:<id>,
// or, for an unchanged source, the earlier companion that the data
// snapshot names with manifest:<id>.
const (
	TagSteward  = "steward"
	TagData     = "steward-data"
	TagManifest = "steward-manifest"
	// TagManifestRef prefixes the tag manifest:<id> of a data snapshot
	// whose manifest is the one already stored as manifest snapshot <id>
	// (an unchanged source). <id> is the id in the primary repository.
	TagManifestRef = "manifest:"
	// TagRun, TagJob and TagSource prefix run:<id>, job:<name> and
	// source:<name>.
	TagRun    = "run:"
	TagJob    = "job:"
	TagSource = "source:"
	// SnapshotHost is the host name of every Steward snapshot, so restic's
	// parent selection and retention groups survive a host rename.
	SnapshotHost = "steward"
)

// FileName is the file a companion snapshot of source holds.
func FileName(source string) string { return source + ".manifest.json" }
