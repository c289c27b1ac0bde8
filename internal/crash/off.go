//go:build !crashpoints

package crash

// Enabled reports whether this build has crash points (-tags
// crashpoints).
const Enabled = false

// Point is a crash point; in this build it does nothing.
func Point(string) {}

// At is the crash point name+":"+detail; in this build it does nothing.
func At(string, string) {}
