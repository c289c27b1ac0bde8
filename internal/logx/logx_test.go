package logx

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestTimesInConfiguredZone(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Tokyo")
	var buf bytes.Buffer
	log := Component(New(&buf, true, slog.LevelInfo, loc), "backup")
	log.Info("hello", "n", 1)
	log.Debug("hidden")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if ts, _ := m["time"].(string); !strings.HasSuffix(ts, "+09:00") {
		t.Fatalf("time %q not in Asia/Tokyo", ts)
	}
	if m["component"] != "backup" {
		t.Fatalf("component %v", m["component"])
	}
	if strings.Contains(buf.String(), "hidden") {
		t.Fatal("debug line at info level")
	}
}

func TestParseLevel(t *testing.T) {
	if l, err := ParseLevel("debug"); err != nil || l != slog.LevelDebug {
		t.Fatal(l, err)
	}
	if _, err := ParseLevel("loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Fatal(err)
	}
}
