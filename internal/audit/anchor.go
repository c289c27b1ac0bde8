package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"steward/internal/catalog"
)

// An Anchor is a (seq, hash) pair that something outside the log's own
// chain says the log held: the head a signed report carries, or a signed
// checkpoint. A log that no longer holds it lost its tail or was rewritten,
// however well its chain verifies.
type Anchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// Kind is "report anchor", "checkpoint" or "given head": the
	// Problem.Where of a broken anchor.
	Kind string `json:"-"`
	// Source names what carries it (a report's file, a checkpoint's file).
	Source string `json:"source"`
	// Time is when it was taken (RFC 3339), when known.
	Time string `json:"time,omitempty"`
}

// Anchor kinds.
const (
	KindReportAnchor = "report anchor"
	KindCheckpoint   = "checkpoint"
	// KindGivenHead is a head the operator gives (audit verify --head),
	// read from a document kept outside the state dir: a signed report, a
	// deletion certificate, a recovery sheet. It is what shows a removed
	// tail when the state dir's own anchors were removed with it.
	KindGivenHead = "given head"
)

// ReportAnchorKey is the catalog KV key of the highest audit head that a
// signed report Steward issued carries.
const ReportAnchorKey = "audit.anchor.max"

// ReportAnchor returns the highest head an issued report carries, or nil
// when no report has recorded one.
func ReportAnchor(ctx context.Context, kv catalog.KV) (*Anchor, error) {
	raw, err := kv.Get(ctx, ReportAnchorKey)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var a Anchor
	if err := json.Unmarshal(raw, &a); err != nil || a.Seq < 1 || a.Hash == "" {
		return nil, fmt.Errorf("catalog %s holds %s: not an audit anchor", ReportAnchorKey, raw)
	}
	a.Kind = KindReportAnchor
	return &a, nil
}

// RaiseReportAnchor records a as the highest head an issued report
// carries, unless the recorded one is higher already. (Two processes that
// raise it at once may leave the lower of their two heads; both are heads
// an issued report carries.)
func RaiseReportAnchor(ctx context.Context, kv catalog.KV, a Anchor) error {
	cur, err := ReportAnchor(ctx, kv)
	if err != nil {
		return err
	}
	if cur != nil && cur.Seq >= a.Seq {
		return nil
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return kv.Put(ctx, ReportAnchorKey, raw)
}

// describe names the anchor for a problem's reason.
func (a Anchor) describe() string {
	s := a.Kind + " " + a.Source
	if a.Time != "" {
		s += " (taken " + a.Time + ")"
	}
	return s
}

// anchorGroup is the anchors of one kind that fail the same way, and the
// one that shows it most.
type anchorGroup struct {
	n     int
	worst Anchor
}

func addTo(groups map[string]*anchorGroup, a Anchor, worse func(a, b Anchor) bool) {
	g := groups[a.Kind]
	if g == nil {
		groups[a.Kind] = &anchorGroup{1, a}
		return
	}
	g.n++
	if worse(a, g.worst) {
		g.worst = a
	}
}

// checkAnchors compares the anchors with the verified records recs
// (recs[i].Seq == i+1) and returns what does not hold: per kind, one
// problem for anchors beyond the log's end, naming the missing range from
// the highest of them, and one for anchors whose record has another hash,
// naming the lowest.
func checkAnchors(recs []Record, anchors []Anchor) []Problem {
	head := int64(len(recs))
	beyond := map[string]*anchorGroup{}
	differ := map[string]*anchorGroup{}
	for _, a := range anchors {
		switch {
		case a.Seq > head:
			addTo(beyond, a, func(a, b Anchor) bool { return a.Seq > b.Seq })
		case a.Seq < 1 || recs[a.Seq-1].Hash != a.Hash:
			addTo(differ, a, func(a, b Anchor) bool { return a.Seq < b.Seq })
		}
	}
	var out []Problem
	for kind, g := range beyond {
		a := g.worst
		reason := fmt.Sprintf("the log ends at seq %d, but %s carries head seq %d (hash %s): records %d to %d are missing",
			head, a.describe(), a.Seq, a.Hash, head+1, a.Seq)
		if g.n > 1 {
			reason += fmt.Sprintf("; %d %ss lie beyond the end", g.n, kind)
		}
		out = append(out, Problem{Where: kind, Seq: head + 1, Reason: reason})
	}
	for kind, g := range differ {
		a := g.worst
		got := "none"
		if a.Seq >= 1 {
			got = recs[a.Seq-1].Hash
		}
		reason := fmt.Sprintf("record %d has hash %s, but %s carries hash %s for it: the chain was rewritten at or before seq %d",
			a.Seq, got, a.describe(), a.Hash, a.Seq)
		if g.n > 1 {
			reason += fmt.Sprintf("; %d %ss disagree with the log", g.n, kind)
		}
		out = append(out, Problem{Where: kind, Seq: a.Seq, Reason: reason})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Seq != out[j].Seq {
			return out[i].Seq < out[j].Seq
		}
		return out[i].Where < out[j].Where
	})
	return out
}
