package resticx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Real restic 0.18 --json output: backup status and summary on stdout,
// error and exit_error messages and text on stderr.
const (
	resticStdout = `{"message_type":"status","seconds_elapsed":1,"percent_done":0.5,"total_files":10,"files_done":5,"total_bytes":2048,"bytes_done":1024,"current_files":["/data/a.txt"]}
{"message_type":"verbose_status","action":"new","item":"/data/a.txt","duration":0.001,"data_size":12,"metadata_size":0,"total_files":1}
{"message_type":"summary","files_new":10,"files_changed":0,"files_unmodified":0,"dirs_new":2,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":10,"tree_blobs":3,"data_added":4096,"data_added_packed":2048,"total_files_processed":10,"total_bytes_processed":2048,"total_duration":1.25,"backup_start":"2026-04-01T02:00:00.123456789+09:00","backup_end":"2026-04-01T02:00:01.373456789+09:00","snapshot_id":"4f1c2b9a0d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a"}
`
	resticStderr = `{"message_type":"error","error":{"message":"open /data/secret: permission denied"},"during":"archival","item":"/data/secret"}
Fatal: unable to open config file: Stat: stat /repo/config: no such file or directory
{"message_type":"exit_error","code":10,"message":"Fatal: repository does not exist: unable to open config file"}
`
	resticSnapshots = `[{"time":"2026-04-01T02:00:00.123+09:00","tree":"aa","paths":["/data"],"hostname":"steward","tags":["job:nightly","run:R1"],"id":"4f1c2b9a","short_id":"4f1c2b9a","original":"0d6e7f8a"}]`
)

// FuzzParseMessage: parseMessage never panics; it takes only a JSON
// object with a message type, and keeps the line as restic printed it.
func FuzzParseMessage(f *testing.F) {
	for _, l := range strings.Split(resticStdout+resticStderr, "\n") {
		f.Add([]byte(l))
	}
	for _, s := range []string{`{}`, `{"message_type":""}`, `{"message_type":1}`, `{"message_type":"summary","backup_start":"yesterday"}`,
		`{"message_type":"error","error":null}`, `{"message_type":"status","total_files":1e400}`, `  {"message_type":"x"}  `, `[`, "\xff{"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, ok := parseMessage(line)
		if !ok {
			if m.MessageType != "" || m.Raw != nil {
				t.Fatalf("a refused line left a message: %+v", m)
			}
			return
		}
		trimmed := bytes.TrimSpace(line)
		if m.MessageType == "" || !bytes.Equal(m.Raw, trimmed) || !json.Valid(m.Raw) || trimmed[0] != '{' {
			t.Fatalf("parseMessage(%q) accepted %+v", line, m)
		}
	})
}

// FuzzResticOutput: whatever restic prints on stdout and stderr, reading
// it and making the error of a failed run never panics; the summary is a
// "summary" message, every collected error an "error" message, and the
// error names the command.
func FuzzResticOutput(f *testing.F) {
	f.Add([]byte(resticStdout), []byte(resticStderr))
	f.Add([]byte(""), []byte("Fatal: wrong password or no key found\n"))
	f.Add([]byte("not json\n{"), []byte(`{"message_type":"exit_error","code":1,"message":""}`))
	f.Add([]byte(`{"message_type":"summary"}`+"\n"+`{"message_type":"summary","snapshot_id":"b"}`), []byte(`{"message_type":"error"}`))
	f.Add([]byte(strings.Repeat("x", 70000)+"\n"), []byte("\n\n\r\n"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, stdout, stderr []byte) {
		var seen int
		call := Call{OnMessage: func(m Message) {
			seen++
			if m.MessageType == "" || len(m.Raw) == 0 {
				t.Fatalf("OnMessage got %+v", m)
			}
		}}
		res, tail := readOutput(bytes.NewReader(stdout), bytes.NewReader(stderr), call, log)
		if res.Summary != nil && res.Summary.MessageType != "summary" {
			t.Fatalf("summary is a %q message", res.Summary.MessageType)
		}
		for _, e := range res.Errors {
			if e.MessageType != "error" {
				t.Fatalf("an error is a %q message", e.MessageType)
			}
		}
		e := classify(context.Background(), "backup", time.Minute, errors.New("exit status 1"), res, tail)
		if !strings.HasPrefix(e.Error(), "restic backup: ") {
			t.Fatalf("error %q", e.Error())
		}
	})
}

// FuzzSnapshots: `restic snapshots --json` output decodes without panic
// into snapshots whose tag and id helpers hold.
func FuzzSnapshots(f *testing.F) {
	f.Add([]byte(resticSnapshots))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"tags":["run:","run:R2",""],"id":""}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var snaps []Snapshot
		if json.Unmarshal(data, &snaps) != nil {
			return
		}
		for _, s := range snaps {
			if v := s.TagValue("run:"); v != "" && !s.HasTag("run:"+v) {
				t.Fatalf("TagValue run: = %q, but no tag run:%s", v, v)
			}
			if s.OriginalID() == "" && (s.ID != "" || s.Original != "") {
				t.Fatalf("OriginalID of %+v is empty", s)
			}
		}
	})
}
