package drills

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunbookVersion keeps docs/runbook-restore.md and RunbookVersion in
// sync: drill records cite the version of the procedure they followed.
func TestRunbookVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "runbook-restore.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "Runbook version: " + RunbookVersion + " (" + RunbookDate + ")"
	if !strings.Contains(string(b), want) {
		t.Fatalf("docs/runbook-restore.md does not say %q: update the doc and drills.RunbookVersion together", want)
	}
	for _, step := range []string{StepChooseSnapshot, StepLoadManifest, StepRestore, StepVerify, StepReadData, StepCleanup} {
		if !strings.Contains(string(b), "`"+step+"`") {
			t.Errorf("the runbook does not describe step %s", step)
		}
	}
}
