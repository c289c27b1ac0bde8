package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"testing"
)

// chainSeeds are the mirror of a real five-record log (catalog and
// mirror written by Log.Append) and edits of it.
func chainSeeds(f *testing.F, valid []byte) {
	f.Helper()
	lines := bytes.SplitAfter(valid, []byte("\n"))
	f.Add(valid)
	f.Add(bytes.Join(lines[:2], nil))                                    // the tail removed
	f.Add(bytes.Join(lines[2:], nil))                                    // the head removed (an export from seq 3)
	f.Add(bytes.Join([][]byte{lines[0], lines[2], lines[1]}, nil))       // reordered
	f.Add(bytes.Replace(valid, []byte(`"i":"c"`), []byte(`"i":"C"`), 1)) // an edited record
	f.Add(bytes.Replace(valid, []byte("\n"), []byte("\n\n"), -1))
	f.Add(append(bytes.Clone(valid), `{"seq":6,"unknown":1}`+"\n"...))
	f.Add([]byte(`{"seq":1,"time":"","actor":"","action":"","target":"","result":"","prev_hash":"","hash":""}`))
	f.Add([]byte("not json\n"))
	f.Add([]byte{})
}

// decodeRecords reads JSON-lines records as CheckExport does; ok false
// when a line is not a record.
func decodeRecords(data []byte) ([]Record, bool) {
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Record
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if dec.Decode(&r) != nil {
			return nil, false
		}
		out = append(out, r)
	}
	return out, sc.Err() == nil
}

func sameRecord(a, b Record) bool {
	return a.Seq == b.Seq && a.Time == b.Time && a.Actor == b.Actor && a.Action == b.Action && a.Target == b.Target &&
		a.Result == b.Result && maps.Equal(a.Details, b.Details) && a.PrevHash == b.PrevHash && a.Hash == b.Hash
}

func fuzzLog(f *testing.F) (*Log, []Record, []byte) {
	l, _, mirror := newLog(f, 5)
	valid, err := os.ReadFile(mirror)
	if err != nil {
		f.Fatal(err)
	}
	var recs []Record
	if err := l.Scan(context.Background(), func(r Record) error { recs = append(recs, r); return nil }); err != nil {
		f.Fatal(err)
	}
	return l, recs, valid
}

// FuzzCheckExport: CheckExport never panics on any export, and an export
// it calls one intact chain that holds the log's head (the anchor a
// report carries) holds every record up to the head unchanged: a change
// anywhere before the anchor is detected. (Cutting records off the ends
// leaves an intact chain: Holds names what is missing.)
func FuzzCheckExport(f *testing.F) {
	_, recs, valid := fuzzLog(f)
	chainSeeds(f, valid)
	head := recs[len(recs)-1]
	f.Fuzz(func(t *testing.T, data []byte) {
		ec, err := CheckExport(bytes.NewReader(data), head.Seq)
		if err != nil {
			return // a line too long to read
		}
		if ec.Problem != "" {
			return
		}
		got, ok := decodeRecords(data)
		if !ok || int64(len(got)) != ec.Records || len(got) == 0 || got[0].Seq != ec.First || got[len(got)-1].Seq != ec.Last {
			t.Fatalf("CheckExport calls an export intact (%d records, seq %d to %d) that reads otherwise", ec.Records, ec.First, ec.Last)
		}
		if ec.Holds(head.Seq, head.Hash) != nil {
			return
		}
		for _, r := range got {
			if r.Seq >= 1 && r.Seq <= head.Seq && !sameRecord(r, recs[r.Seq-1]) {
				t.Fatalf("record %d was changed, and the export still holds the head: %+v", r.Seq, r)
			}
		}
	})
}

// memStore holds the records of a real log in memory, so that the fuzz
// target exercises the verifier, not SQLite.
type memStore struct{ recs []Record }

func (m *memStore) AppendAudit(context.Context, func(*Record) (Record, error), func(Record) error) (Record, error) {
	return Record{}, errors.New("memStore is read-only")
}

func (m *memStore) ScanAudit(_ context.Context, fn func(Record) error) error {
	for _, r := range m.recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) LastAudit(context.Context) (Record, error) { return m.recs[len(m.recs)-1], nil }

// FuzzVerifyMirror: Log.Verify never panics on any mirror, and it
// verifies the log only when the mirror holds exactly the catalog's
// records (five records written by Log.Append to a real catalog and
// mirror, then held in memory).
func FuzzVerifyMirror(f *testing.F) {
	real, recs, valid := fuzzLog(f)
	chainSeeds(f, valid)
	l := New(&memStore{recs}, real.mirror, real.clock)
	// The mirror is read from memory (scanMirror, as readMirror reads the
	// file): writing and reading a file took nine tenths of each run.
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := l.verify(context.Background(), func(fn func(int, Record, error) error) error {
			return scanMirror(bytes.NewReader(data), fn)
		}, nil)
		if err != nil {
			if !errors.Is(err, ErrTampered) && rep.Problem != nil {
				t.Fatalf("a problem, but the error does not wrap ErrTampered: %v", err)
			}
			if rep.OK() && errors.Is(err, ErrTampered) {
				t.Fatalf("ErrTampered without a problem: %v", err)
			}
			return
		}
		got, ok := decodeRecords(data)
		if !ok || len(got) != len(recs) {
			t.Fatalf("the log verifies with a mirror of %d records (readable %v), the catalog holds %d", len(got), ok, len(recs))
		}
		for i := range got {
			if !sameRecord(got[i], recs[i]) {
				t.Fatalf("the log verifies with mirror record %d changed: %+v", i+1, got[i])
			}
		}
	})
}
