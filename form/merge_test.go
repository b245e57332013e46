package form_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

var mergeSeed = flag.Uint64("merge.seed", 0, "seed for the merge property tests (0: from the time)")

const (
	recID   = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"
	baseMS  = 1_767_225_600_000
	tplName = "site-inspection"
)

var (
	devices   = []string{"dev-a", "dev-b", "dev-c"}
	fieldIDs  = []string{"site", "count", "notes", "ok", form.FieldStatus, form.FieldDeleted}
	createdAt = form.Stamp{HLC: form.NewHLC(baseMS-1000, 0), Device: "dev-a"}
)

// seeded runs f with a random source, and names the seed when f fails so that
// `go test ./form -run NAME -merge.seed=N` repeats the run.
func seeded(t *testing.T, f func(t *testing.T, r *rand.Rand)) {
	seed := *mergeSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed: %d (repeat with: go test ./form -run '^%s$' -merge.seed=%d)", seed, t.Name(), seed)
		}
	})
	f(t, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
}

// valueFor is the value an honest device writes with a stamp: one stamp, one value.
func valueFor(field string, s form.Stamp) json.RawMessage {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d", field, s.Device, s.HLC)
	return pick(field, int(h.Sum64()%5))
}

func pick(field string, i int) json.RawMessage {
	switch field {
	case form.FieldStatus:
		return []json.RawMessage{[]byte(`"draft"`), []byte(`"submitted"`)}[i%2]
	case form.FieldDeleted:
		return []json.RawMessage{[]byte(`true`), []byte(`false`)}[i%2]
	}
	// Few values, so that different edits often write the same one.
	return []json.RawMessage{[]byte(`"a"`), []byte(`"b"`), []byte(`12`), []byte(`null`), []byte(`["x","y"]`)}[i%5]
}

// genChanges makes n changes of one record. With corrupt, some stamps carry two
// different values and some creation metadata disagrees, which an honest peer never
// sends but merge must still resolve the same way everywhere.
func genChanges(r *rand.Rand, n int, corrupt bool) []form.Change {
	var out []form.Change
	for range n {
		c := form.Change{
			ID: form.NewID(), Record: recID, Template: tplName, Version: 1 + r.IntN(2),
			Created: createdAt, CreatedBy: "ann", Fields: map[string]form.FieldValue{},
			Author: "ann", Device: devices[r.IntN(len(devices))],
		}
		if corrupt && r.IntN(4) == 0 {
			c.Created = form.Stamp{HLC: createdAt.HLC + form.HLC(r.IntN(2)), Device: devices[r.IntN(len(devices))]}
			c.CreatedBy = []string{"ann", "bob"}[r.IntN(2)]
		}
		for range 1 + r.IntN(4) {
			f := fieldIDs[r.IntN(len(fieldIDs))]
			s := form.Stamp{HLC: form.NewHLC(baseMS+int64(r.IntN(4)), uint16(r.IntN(3))), Device: devices[r.IntN(len(devices))]}
			v := valueFor(f, s)
			if corrupt && r.IntN(5) == 0 {
				v = pick(f, r.IntN(5))
			}
			c.Fields[f] = form.FieldValue{Value: v, Stamp: s}
		}
		out = append(out, c)
		if r.IntN(5) == 0 { // a duplicate, as a retry sends it
			out = append(out, out[r.IntN(len(out))])
		}
	}
	return out
}

// model is the merge of a set of changes computed directly: per field the value
// with the greatest (stamp, bytes), the highest version, the least creation.
func model(changes []form.Change) form.Record {
	r := form.Record{ID: recID, Template: tplName, Fields: map[string]form.FieldValue{}}
	for i, c := range changes {
		if c.Version > r.Version {
			r.Version = c.Version
		}
		if i == 0 || c.Created.Compare(r.Created) < 0 || c.Created == r.Created && c.CreatedBy < r.CreatedBy {
			r.Created, r.CreatedBy = c.Created, c.CreatedBy
		}
		for id, fv := range c.Fields {
			cur, ok := r.Fields[id]
			if k := fv.Stamp.Compare(cur.Stamp); !ok || k > 0 || k == 0 && bytes.Compare(fv.Value, cur.Value) > 0 {
				r.Fields[id] = fv
			}
		}
	}
	return r
}

func mustMerge(t *testing.T, dst *form.Record, in form.Record) (changed, lost []form.Diff) {
	t.Helper()
	changed, lost, err := dst.Merge(in)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	return changed, lost
}

// fold merges changes into one record, in the given order.
func fold(t *testing.T, changes []form.Change) form.Record {
	r := changes[0].AsRecord()
	for _, c := range changes[1:] {
		mustMerge(t, &r, c.AsRecord())
	}
	return r
}

// Replicas that receive the same changes, in any order, grouping and with duplicates,
// end with the same bytes and the same rev, which are the model's.
func TestMergeConverges(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("corrupt=%v", corrupt), func(t *testing.T) {
			seeded(t, func(t *testing.T, r *rand.Rand) {
				for range 300 {
					changes := genChanges(r, 1+r.IntN(12), corrupt)
					before := encodeChanges(changes)
					want := model(changes)
					wantEnc := want.Encode()
					for replica := range 5 {
						order := slices.Clone(changes)
						r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
						var got form.Record
						switch replica % 3 {
						case 0: // one change at a time
							got = fold(t, order)
						case 1: // in random groups, merged with each other
							var groups []form.Record
							for len(order) > 0 {
								n := 1 + r.IntN(len(order))
								groups = append(groups, fold(t, order[:n]))
								order = order[n:]
							}
							r.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
							got = groups[0]
							for _, g := range groups[1:] {
								mustMerge(t, &got, g)
							}
						case 2: // through the wire: every record decoded from its encoding
							got = fold(t, order[:1])
							for _, c := range order[1:] {
								rec := c.AsRecord()
								dec, err := form.DecodeRecord(rec.Encode())
								if err != nil {
									t.Fatalf("DecodeRecord: %v", err)
								}
								mustMerge(t, &got, dec)
							}
						}
						if enc := got.Encode(); !bytes.Equal(enc, wantEnc) {
							t.Fatalf("replica %d differs from the model:\n got %s\nwant %s", replica, enc, wantEnc)
						}
						if got.Rev() != want.Rev() {
							t.Fatalf("replica %d: rev %s, want %s", replica, got.Rev(), want.Rev())
						}
					}
					if after := encodeChanges(changes); !bytes.Equal(before, after) {
						t.Fatalf("merging changed the changes that were merged in")
					}
				}
			})
		})
	}
}

func encodeChanges(cs []form.Change) []byte {
	b, err := json.Marshal(cs)
	if err != nil {
		panic(err)
	}
	return b
}

func randomRecord(t *testing.T, r *rand.Rand, corrupt bool) form.Record {
	return fold(t, genChanges(r, 1+r.IntN(6), corrupt))
}

func merged(t *testing.T, a, b form.Record) form.Record {
	t.Helper()
	c := a.Clone()
	mustMerge(t, &c, b.Clone())
	return c
}

func TestMergeLaws(t *testing.T) {
	seeded(t, func(t *testing.T, r *rand.Rand) {
		for range 500 {
			corrupt := r.IntN(3) == 0
			a, b, c := randomRecord(t, r, corrupt), randomRecord(t, r, corrupt), randomRecord(t, r, corrupt)
			if ab, ba := merged(t, a, b), merged(t, b, a); !bytes.Equal(ab.Encode(), ba.Encode()) {
				t.Fatalf("not commutative:\n a⊔b %s\n b⊔a %s", ab.Encode(), ba.Encode())
			}
			l, rr := merged(t, merged(t, a, b), c), merged(t, a, merged(t, b, c))
			if !bytes.Equal(l.Encode(), rr.Encode()) || l.Rev() != rr.Rev() {
				t.Fatalf("not associative:\n (a⊔b)⊔c %s\n a⊔(b⊔c) %s", l.Encode(), rr.Encode())
			}
			aa := a.Clone()
			changed, lost := mustMerge(t, &aa, a.Clone())
			if !bytes.Equal(aa.Encode(), a.Encode()) || len(changed) != 0 || len(lost) != 0 {
				t.Fatalf("not idempotent: %s → %s, changed %v, lost %v", a.Encode(), aa.Encode(), changed, lost)
			}
			// Merging a record into itself, with the very same map.
			self := a.Clone()
			mustMerge(t, &self, self)
			if !bytes.Equal(self.Encode(), a.Encode()) {
				t.Fatalf("merge with itself changed it")
			}
			// a⊔b absorbs b again.
			ab := merged(t, a, b)
			abb := merged(t, ab, b)
			if !bytes.Equal(ab.Encode(), abb.Encode()) {
				t.Fatalf("(a⊔b)⊔b != a⊔b")
			}
		}
	})
}

// changed describes exactly how the record moved, and no value is ever dropped
// without being reported: every value a replica saw is its final value, or was
// reported as lost or as the old side of a change.
func TestMergeReportsEveryValue(t *testing.T) {
	seeded(t, func(t *testing.T, r *rand.Rand) {
		for range 300 {
			changes := genChanges(r, 2+r.IntN(10), false)
			rec := changes[0].AsRecord()
			seen := map[string]map[string]bool{}
			history := map[string]map[string]bool{}
			note := func(m map[string]map[string]bool, field string, v json.RawMessage) {
				if m[field] == nil {
					m[field] = map[string]bool{}
				}
				m[field][string(v)] = true
			}
			for id, fv := range rec.Fields {
				note(seen, id, fv.Value)
			}
			for _, c := range changes[1:] {
				prev := rec.Clone()
				changed, lost := mustMerge(t, &rec, c.AsRecord())
				// changed: exactly the fields whose value differs, old and new right.
				var want []form.Diff
				for _, id := range sortedKeys(rec.Fields) {
					old, had := prev.Fields[id]
					now := rec.Fields[id]
					if !had || !bytes.Equal(old.Value, now.Value) {
						want = append(want, form.Diff{Field: id, Old: old.Value, New: now.Value, Stamp: now.Stamp})
					}
				}
				if !diffsEqual(changed, want) {
					t.Fatalf("changed = %v, want %v", changed, want)
				}
				for _, d := range lost {
					in := c.Fields[d.Field]
					if !bytes.Equal(d.Old, in.Value) || d.Stamp != in.Stamp || !bytes.Equal(d.New, rec.Fields[d.Field].Value) {
						t.Fatalf("lost %v does not describe incoming %v against %v", d, in, rec.Fields[d.Field])
					}
					if in.Stamp.Compare(rec.Fields[d.Field].Stamp) >= 0 {
						t.Fatalf("lost %v, but it did not lose", d)
					}
					note(history, d.Field, d.Old)
				}
				for _, d := range changed {
					if d.Old != nil {
						note(history, d.Field, d.Old)
					}
				}
				for id, fv := range c.Fields {
					note(seen, id, fv.Value)
				}
			}
			for id, fv := range rec.Fields {
				note(history, id, fv.Value)
			}
			for id, vals := range seen {
				for v := range vals {
					if !history[id][v] {
						t.Fatalf("field %s: value %s was seen but is neither current nor reported", id, v)
					}
				}
			}
		}
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func diffsEqual(a, b []form.Diff) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Field != b[i].Field || !bytes.Equal(a[i].Old, b[i].Old) || !bytes.Equal(a[i].New, b[i].New) || a[i].Stamp != b[i].Stamp {
			return false
		}
	}
	return true
}

func rec1(fields map[string]form.FieldValue) form.Record {
	return form.Record{ID: recID, Template: tplName, Version: 1, Created: createdAt, CreatedBy: "ann", Fields: fields}
}

func fv(v string, ms int64, dev string) form.FieldValue {
	return form.FieldValue{Value: json.RawMessage(v), Stamp: form.Stamp{HLC: form.NewHLC(baseMS+ms, 0), Device: dev}}
}

// Two devices edit the same field concurrently: whichever arrives second, the same
// value wins and the other is reported.
func TestMergeConcurrentEdit(t *testing.T) {
	ann := fv(`"ann's"`, 5, "dev-a")
	bob := fv(`"bob's"`, 5, "dev-b") // same HLC: the device breaks the tie
	t.Run("OKLoserArrives", func(t *testing.T) {
		r := rec1(map[string]form.FieldValue{"notes": bob})
		changed, lost := mustMerge(t, &r, rec1(map[string]form.FieldValue{"notes": ann}))
		if len(changed) != 0 || len(lost) != 1 {
			t.Fatalf("changed %v, lost %v", changed, lost)
		}
		if d := lost[0]; d.Field != "notes" || string(d.Old) != `"ann's"` || string(d.New) != `"bob's"` || d.Stamp != ann.Stamp {
			t.Errorf("lost = %+v", d)
		}
	})
	t.Run("OKWinnerArrives", func(t *testing.T) {
		r := rec1(map[string]form.FieldValue{"notes": ann})
		changed, lost := mustMerge(t, &r, rec1(map[string]form.FieldValue{"notes": bob}))
		if len(changed) != 1 || len(lost) != 0 {
			t.Fatalf("changed %v, lost %v", changed, lost)
		}
		if d := changed[0]; string(d.Old) != `"ann's"` || string(d.New) != `"bob's"` || d.Stamp != bob.Stamp {
			t.Errorf("changed = %+v", d)
		}
		if string(r.Value("notes")) != `"bob's"` {
			t.Errorf("value = %s", r.Value("notes"))
		}
	})
	t.Run("OKSameValue", func(t *testing.T) {
		r := rec1(map[string]form.FieldValue{"notes": fv(`"x"`, 5, "dev-a")})
		changed, lost := mustMerge(t, &r, rec1(map[string]form.FieldValue{"notes": fv(`"x"`, 4, "dev-b")}))
		if len(changed) != 0 || len(lost) != 0 {
			t.Fatalf("equal values reported: changed %v, lost %v", changed, lost)
		}
	})
	// A newer stamp with the same value reports no change, but the record (and its
	// rev) did move: callers must save by rev, not by len(changed).
	t.Run("OKNewerStampSameValue", func(t *testing.T) {
		r := rec1(map[string]form.FieldValue{"notes": fv(`"x"`, 4, "dev-a")})
		rev := r.Rev()
		changed, lost := mustMerge(t, &r, rec1(map[string]form.FieldValue{"notes": fv(`"x"`, 5, "dev-b")}))
		if len(changed) != 0 || len(lost) != 0 {
			t.Fatalf("changed %v, lost %v", changed, lost)
		}
		if r.Rev() == rev || r.Fields["notes"].Stamp.Device != "dev-b" {
			t.Errorf("the newer stamp was not taken")
		}
	})
}

func TestMergeMismatch(t *testing.T) {
	base := rec1(map[string]form.FieldValue{"notes": fv(`"a"`, 1, "dev-a")})
	tests := []struct {
		name string
		in   func(form.Record) form.Record
	}{
		{"ErrTemplate", func(r form.Record) form.Record { r.Template = "other"; return r }},
		{"ErrID", func(r form.Record) form.Record { r.ID = "0190a5b2-7c3d-7e4f-8a1b-000000000000"; return r }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base.Clone()
			before := r.Encode()
			in := base.Clone()
			in.Version = 9
			in.Created = form.Stamp{HLC: 1, Device: "early"}
			in.Fields["notes"] = fv(`"b"`, 100, "dev-z")
			in.Fields["site"] = fv(`"s"`, 100, "dev-z")
			changed, lost, err := r.Merge(tt.in(in))
			if !errors.Is(err, form.ErrMergeMismatch) {
				t.Fatalf("Merge = %v, want ErrMergeMismatch", err)
			}
			if changed != nil || lost != nil {
				t.Errorf("changed %v, lost %v", changed, lost)
			}
			if !bytes.Equal(r.Encode(), before) {
				t.Errorf("record changed:\n%s\n%s", before, r.Encode())
			}
		})
	}
}

// Merging never shares a map with its input: later merges into either side leave
// the other as it was.
func TestMergeNoAliasing(t *testing.T) {
	t.Run("OKAsRecord", func(t *testing.T) {
		c := form.Change{ID: form.NewID(), Record: recID, Template: tplName, Version: 1, Created: createdAt,
			CreatedBy: "ann", Fields: map[string]form.FieldValue{"notes": fv(`"a"`, 1, "dev-a")}, Author: "ann", Device: "dev-a"}
		before := encodeChanges([]form.Change{c})
		r := c.AsRecord()
		mustMerge(t, &r, rec1(map[string]form.FieldValue{"site": fv(`"s"`, 2, "dev-b"), "notes": fv(`"b"`, 3, "dev-b")}))
		if after := encodeChanges([]form.Change{c}); !bytes.Equal(before, after) {
			t.Errorf("merging into AsRecord changed the change:\n%s\n%s", before, after)
		}
	})
	t.Run("OKChangeFrom", func(t *testing.T) {
		r := rec1(map[string]form.FieldValue{"notes": fv(`"a"`, 1, "dev-a")})
		c := form.ChangeFrom(form.NewID(), r, "ann", "dev-a")
		mustMerge(t, &r, rec1(map[string]form.FieldValue{"site": fv(`"s"`, 2, "dev-b")}))
		if len(c.Fields) != 1 {
			t.Errorf("the change followed the record: %v", c.Fields)
		}
	})
	t.Run("OKIncoming", func(t *testing.T) {
		a := rec1(map[string]form.FieldValue{"notes": fv(`"a"`, 1, "dev-a")})
		b := rec1(map[string]form.FieldValue{"notes": fv(`"b"`, 2, "dev-b"), "site": fv(`"s"`, 2, "dev-b")})
		bBefore := b.Encode()
		mustMerge(t, &a, b)
		mustMerge(t, &a, rec1(map[string]form.FieldValue{"notes": fv(`"c"`, 3, "dev-c"), "ok": fv(`true`, 3, "dev-c")}))
		if !bytes.Equal(b.Encode(), bBefore) {
			t.Errorf("merging into a changed b:\n%s\n%s", bBefore, b.Encode())
		}
	})
	t.Run("OKNilFields", func(t *testing.T) {
		r := rec1(nil)
		before := r.Encode()
		mustMerge(t, &r, rec1(nil))
		if !bytes.Equal(r.Encode(), before) {
			t.Errorf("merging an empty record changed the encoding: %s → %s", before, r.Encode())
		}
		if c := r.Clone(); !bytes.Equal(c.Encode(), before) {
			t.Errorf("Clone changed the encoding")
		}
		mustMerge(t, &r, rec1(map[string]form.FieldValue{"notes": fv(`"a"`, 1, "dev-a")}))
		if len(r.Fields) != 1 {
			t.Errorf("fields = %v", r.Fields)
		}
	})
	t.Run("OKClone", func(t *testing.T) {
		a := rec1(map[string]form.FieldValue{"notes": fv(`"a"`, 1, "dev-a")})
		c := a.Clone()
		c.Fields["notes"].Value[1] = 'X'
		c.Fields["site"] = fv(`"s"`, 1, "dev-a")
		if string(a.Value("notes")) != `"a"` || len(a.Fields) != 1 {
			t.Errorf("Clone shares memory with the original")
		}
	})
}

func TestMergeVersionAndCreation(t *testing.T) {
	a := rec1(nil)
	b := rec1(nil)
	b.Version = 3
	b.Created = form.Stamp{HLC: createdAt.HLC - 1, Device: "dev-z"}
	b.CreatedBy = "zed"
	ab, ba := merged(t, a, b), merged(t, b, a)
	for _, r := range []form.Record{ab, ba} {
		if r.Version != 3 || r.Created != b.Created || r.CreatedBy != "zed" {
			t.Errorf("merged = v%d %v %s", r.Version, r.Created, r.CreatedBy)
		}
	}
	// Same creation stamp, different creator: the lesser name, on every replica.
	c := rec1(nil)
	c.CreatedBy = "aaron"
	if ac, ca := merged(t, a, c), merged(t, c, a); ac.CreatedBy != "aaron" || ca.CreatedBy != "aaron" {
		t.Errorf("CreatedBy = %s, %s", ac.CreatedBy, ca.CreatedBy)
	}
}
