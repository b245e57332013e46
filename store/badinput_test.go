package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

// TestBadTemplate: malformed templates are refused with an error naming the field and
// the rule, and the replica's templates stay as they were (I9).
func TestBadTemplate(t *testing.T) {
	ctx := context.Background()
	const head = `{"id": "broken", "version": 1, "name": "Broken", "fields": [`
	cases := []struct {
		name  string
		json  string
		field string // TemplateError.Field, "" for the template as a whole
		rule  string
		msg   []string // substrings of the message
	}{
		{name: "ErrInvalidTemplate_MalformedJSON", json: head + `{"id": "a", "type": "text", "label": "A"}`,
			rule: "json", msg: []string{"malformed JSON"}},
		{name: "ErrInvalidTemplate_MalformedJSONLine", json: "{\n  \"id\": \"x\",\n  \"version\": 1,,\n}",
			rule: "json", msg: []string{"line 3"}},
		{name: "ErrInvalidTemplate_NotAnObject", json: `[1, 2]`, rule: "json"},
		{name: "ErrInvalidTemplate_UnknownKey", json: head + `{"id": "a", "type": "text", "label": "A", "requierd": true}]}`,
			rule: "json", msg: []string{"requierd"}},
		{name: "ErrInvalidTemplate_UnknownFieldType", json: head + `{"id": "colour", "type": "color", "label": "Colour"}]}`,
			field: "colour", rule: "type", msg: []string{`field "colour"`, `unknown type "color"`}},
		{name: "ErrInvalidTemplate_DuplicateFieldID", json: head + `{"id": "a", "type": "text", "label": "A"}, {"id": "a", "type": "integer", "label": "A again"}]}`,
			field: "a", rule: "duplicate", msg: []string{`field "a"`, "duplicate"}},
		{name: "ErrInvalidTemplate_InvalidRegex", json: head + `{"id": "code", "type": "text", "label": "Code", "pattern": "[A-Z"}]}`,
			field: "code", rule: "pattern", msg: []string{`field "code"`, "pattern", "[A-Z"}},
		{name: "ErrInvalidTemplate_RuleOnWrongType", json: head + `{"id": "n", "type": "integer", "label": "N", "pattern": "[0-9]+"}]}`,
			field: "n", rule: "pattern", msg: []string{`field "n"`, "pattern"}},
		{name: "ErrInvalidTemplate_NoFields", json: head + `]}`, rule: "fields"},
		{name: "ErrInvalidTemplate_BadID", json: `{"id": "Bad ID", "version": 1, "name": "X", "fields": [{"id": "a", "type": "text", "label": "A"}]}`, rule: "id"},
	}
	s := mustOpen(t)
	before := s.Templates()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := form.ParseTemplate([]byte(tc.json))
			if !errors.Is(err, form.ErrInvalidTemplate) {
				t.Fatalf("ParseTemplate: got %v, %v; want ErrInvalidTemplate", tpl, err)
			}
			var te *form.TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *form.TemplateError", err)
			}
			if te.Field != tc.field || te.Rule != tc.rule {
				t.Errorf("field %q rule %q, want field %q rule %q (%v)", te.Field, te.Rule, tc.field, tc.rule, err)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not contain %q", err, m)
				}
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		tpl, err := form.ParseTemplate([]byte(head + `{"id": "code", "type": "text", "label": "Code", "pattern": "[A-Z]+"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutTemplate(ctx, tpl); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTemplate(ctx, tpl); err != nil {
			t.Fatalf("the same version twice: %v", err)
		}
		if got := s.Templates(); len(got) != len(before)+1 {
			t.Fatalf("%d templates, want %d", len(got), len(before)+1)
		}
		before = s.Templates()
	})
	t.Run("ErrTemplateConflict", func(t *testing.T) {
		tpl, err := form.ParseTemplate([]byte(head + `{"id": "code", "type": "text", "label": "Code changed"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutTemplate(ctx, tpl); !errors.Is(err, store.ErrTemplateConflict) {
			t.Fatalf("got %v, want ErrTemplateConflict", err)
		}
	})
	// A template built in Go rather than parsed must be checked all the same: stored
	// unchecked, it would be refused when the replica loads its templates, and the
	// replica would no longer open.
	t.Run("ErrInvalidTemplate_PutUnchecked", func(t *testing.T) {
		dir := t.TempDir()
		s2 := openReplica(t, dir, "dev-put", nil)
		bad := &form.Template{ID: "handmade", Version: 1, Name: "Handmade", Fields: []form.Field{
			{ID: "a", Type: form.TypeText, Label: form.Plain("A")}, {ID: "a", Type: form.TypeText, Label: form.Plain("A")}}}
		err := s2.PutTemplate(ctx, bad)
		if !errors.Is(err, form.ErrInvalidTemplate) || !strings.Contains(err.Error(), `"a"`) {
			t.Fatalf("got %v, want ErrInvalidTemplate naming field \"a\"", err)
		}
		if n := len(s2.Templates()); n != 1 {
			t.Fatalf("%d templates after a refused put, want 1", n)
		}
		s2.Close()
		s3 := openReplica(t, dir, "dev-put", nil)
		if n := len(s3.Templates()); n != 1 {
			t.Fatalf("%d templates after reopening, want 1", n)
		}
	})
	t.Run("OK_PutUncheckedValid", func(t *testing.T) {
		s2 := openReplica(t, t.TempDir(), "dev-put", nil)
		good := &form.Template{ID: "handmade", Version: 1, Name: "Handmade", Fields: []form.Field{
			{ID: "a", Type: form.TypeText, Label: form.Plain("A")}}}
		if err := s2.PutTemplate(ctx, good); err != nil {
			t.Fatal(err)
		}
		// The stored template must work for saves (its rules compiled).
		mustSave(t, s2, store.Edit{Template: form.TemplateKey{ID: "handmade", Version: 1}, Author: "ana", Values: vals("a", "x")})
	})
	if got := s.Templates(); len(got) != len(before) {
		t.Fatalf("templates changed: %d, want %d", len(got), len(before))
	}
}

// TestBadSave: every refused save names what is wrong and writes nothing: no record,
// outbox change, audit entry or index entry (I9).
func TestBadSave(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-bad", clk)
	draft := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00001", "notes", "draft only")})
	done := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Status: form.StatusSubmitted,
		Values: complete("S-00002", "Ana Lima", "all good")})
	gone := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00003")})
	if _, err := s.Delete(ctx, "ana", gone.ID); err != nil {
		t.Fatal(err)
	}
	stored, err := s.PutAttachment(ctx, bytes.NewReader([]byte("png bytes")), "image/png", "sig.png")
	if err != nil {
		t.Fatal(err)
	}
	unknownSHA := strings.Repeat("ab", 32)
	sig := func(sha string) any { return form.Attachment{SHA256: sha, Size: 9, Type: "image/png"} }

	type tc struct {
		name  string
		edit  store.Edit
		err   error
		field string   // the field the error names
		rule  string   // the FieldError rule, for ErrInvalidValue
		msg   []string // more substrings of the message
	}
	cases := []tc{
		{name: "ErrInvalidValue_RequiredMissingOnSubmitNew", err: form.ErrInvalidValue, field: "inspector", rule: "required", msg: []string{"required"},
			edit: store.Edit{Template: inspection, Author: "ana", Status: form.StatusSubmitted, Values: vals("site_code", "S-00010")}},
		{name: "ErrInvalidValue_RequiredMissingOnSubmitEdit", err: form.ErrInvalidValue, field: "inspector", rule: "required", msg: []string{"required"},
			edit: store.Edit{Record: draft.ID, Author: "ana", Status: form.StatusSubmitted}},
		{name: "ErrInvalidValue_RequiredShownByCondition", err: form.ErrInvalidValue, field: "fault", rule: "required", msg: []string{"required"},
			edit: store.Edit{Record: draft.ID, Author: "ana", Status: form.StatusSubmitted, Values: vals("inspector", "Bo", "ok", false)}},
		{name: "ErrInvalidValue_ClearRequiredOfSubmitted", err: form.ErrInvalidValue, field: "inspector", rule: "required", msg: []string{"required"},
			edit: store.Edit{Record: done.ID, Author: "ana", Values: form.Values{"inspector": json.RawMessage("null")}}},
		{name: "ErrInvalidValue_WrongTypeDecimal", err: form.ErrInvalidValue, field: "pressure", rule: "type",
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("pressure", "high")}},
		{name: "ErrInvalidValue_WrongTypeText", err: form.ErrInvalidValue, field: "inspector", rule: "type",
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("inspector", 42)}},
		{name: "ErrInvalidValue_WrongTypeYesNo", err: form.ErrInvalidValue, field: "ok", rule: "type",
			edit: store.Edit{Record: draft.ID, Author: "ana", Values: vals("ok", "yes")}},
		{name: "ErrInvalidValue_WrongTypeDate", err: form.ErrInvalidValue, field: "visited", rule: "type",
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("visited", "yesterday")}},
		{name: "ErrInvalidValue_WrongTypePhotos", err: form.ErrInvalidValue, field: "photos", rule: "type",
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("photos", "pic.jpg")}},
		{name: "ErrInvalidValue_NotJSON", err: form.ErrInvalidValue, field: "notes", rule: "type",
			edit: store.Edit{Template: inspection, Author: "ana", Values: form.Values{"notes": json.RawMessage(`"unterminated`)}}},
		{name: "ErrInvalidValue_Pattern", err: form.ErrInvalidValue, field: "site_code", rule: "pattern", msg: []string{"pattern"},
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "X-1")}},
		{name: "ErrInvalidValue_Max", err: form.ErrInvalidValue, field: "pressure", rule: "max", msg: []string{"max"},
			edit: store.Edit{Record: draft.ID, Author: "ana", Values: vals("pressure", 401)}},
		{name: "ErrInvalidValue_Min", err: form.ErrInvalidValue, field: "pressure", rule: "min", msg: []string{"min"},
			edit: store.Edit{Record: draft.ID, Author: "ana", Values: vals("pressure", -1)}},
		{name: "ErrInvalidValue_OversizedValue", err: form.ErrInvalidValue, field: "notes", rule: "size", msg: []string{"limit"},
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("notes", strings.Repeat("x", form.MaxValueBytes+1))}},
		{name: "ErrInvalidValue_OverMaxLength", err: form.ErrInvalidValue, field: "inspector", rule: "max_length", msg: []string{"max_length 80"},
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("inspector", strings.Repeat("é", 81))}},
		{name: "ErrInvalidValue_TooManyFiles", err: form.ErrInvalidValue, field: "photos", rule: "max_files",
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("photos", []any{sig(stored.SHA256), sig(stored.SHA256), sig(stored.SHA256), sig(stored.SHA256)})}},
		{name: "ErrInvalidValue_UnknownField", err: form.ErrInvalidValue, field: "colour", rule: "unknown",
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00011", "colour", "red")}},
		{name: "ErrInvalidValue_SystemField", err: form.ErrInvalidValue, field: "_deleted",
			edit: store.Edit{Record: draft.ID, Author: "ana", Values: vals("_deleted", true)}},
		{name: "ErrInvalidValue_SeveralFields", err: form.ErrInvalidValue, field: "pressure", rule: "type", msg: []string{`"visited"`},
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("pressure", "x", "visited", 3)}},
		{name: "ErrUnknownTemplate_UnknownID", err: store.ErrUnknownTemplate, msg: []string{"nope"},
			edit: store.Edit{Template: form.TemplateKey{ID: "nope", Version: 1}, Author: "ana", Values: vals("site_code", "S-00012")}},
		{name: "ErrUnknownTemplate_LatestOfUnknown", err: store.ErrUnknownTemplate, msg: []string{"nope"},
			edit: store.Edit{Template: form.TemplateKey{ID: "nope"}, Author: "ana"}},
		{name: "ErrUnknownTemplate_Version2", err: store.ErrUnknownTemplate, msg: []string{"inspection"},
			edit: store.Edit{Template: form.TemplateKey{ID: "inspection", Version: 2}, Author: "ana", Values: vals("site_code", "S-00013")}},
		{name: "ErrNotFound_EditMissing", err: store.ErrNotFound,
			edit: store.Edit{Record: form.NewID(), Author: "ana", Values: vals("notes", "x")}},
		{name: "ErrNotFound_EditMalformedID", err: store.ErrNotFound,
			edit: store.Edit{Record: "../etc/passwd", Author: "ana", Values: vals("notes", "x")}},
		{name: "ErrDeleted_EditDeleted", err: store.ErrDeleted, msg: []string{gone.ID, "restore"},
			edit: store.Edit{Record: gone.ID, Author: "ana", Values: vals("notes", "x")}},
		{name: "ErrBadInput_Status", err: store.ErrBadInput, msg: []string{"status", `"approved"`},
			edit: store.Edit{Template: inspection, Author: "ana", Status: "approved", Values: vals("site_code", "S-00014")}},
		{name: "ErrBadInput_StatusOnEdit", err: store.ErrBadInput, msg: []string{"status", `"Submitted"`},
			edit: store.Edit{Record: done.ID, Author: "ana", Status: "Submitted"}},
		{name: "ErrBadInput_LongAuthor", err: store.ErrBadInput, msg: []string{"author"},
			edit: store.Edit{Template: inspection, Author: strings.Repeat("a", 257), Values: vals("site_code", "S-00015")}},
		{name: "ErrNotFound_AttachmentNeverStored", err: store.ErrNotFound, field: "signature", msg: []string{unknownSHA},
			edit: store.Edit{Template: inspection, Author: "ana", Values: vals("signature", sig(unknownSHA))}},
		{name: "ErrNotFound_PhotoNeverStored", err: store.ErrNotFound, field: "photos", msg: []string{unknownSHA},
			edit: store.Edit{Record: draft.ID, Author: "ana", Values: vals("photos", []any{sig(stored.SHA256), sig(unknownSHA)})}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk.Advance(time.Second)
			before := stateOf(t, s)
			r, err := s.Save(ctx, c.edit)
			if !errors.Is(err, c.err) {
				t.Fatalf("got %v (record %s), want %v", err, r.ID, c.err)
			}
			if r.ID != "" {
				t.Errorf("a refused save returned record %s", r.ID)
			}
			if c.field != "" && !strings.Contains(err.Error(), `"`+c.field+`"`) {
				t.Errorf("message %q does not name field %q", err, c.field)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q does not contain %q", err, m)
				}
			}
			if c.err == form.ErrInvalidValue {
				var ve *form.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("error %T is not a *form.ValidationError", err)
				}
				fe, ok := ve.For(c.field)
				if !ok {
					t.Fatalf("no error for field %q in %v", c.field, err)
				}
				if c.rule != "" && fe.Rule != c.rule {
					t.Errorf("field %q: rule %q, want %q (%v)", c.field, fe.Rule, c.rule, err)
				}
			}
			if after := stateOf(t, s); !sameState(before, after) {
				t.Fatalf("a refused save changed the replica:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	t.Run("ErrNotFound_DeleteMissing", func(t *testing.T) {
		before := stateOf(t, s)
		if _, err := s.Delete(ctx, "ana", form.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
		if _, err := s.Restore(ctx, "ana", form.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
		if after := stateOf(t, s); !sameState(before, after) {
			t.Fatalf("changed:\n%+v\n%+v", before, after)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		before := stateOf(t, s)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Save(cctx, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "cancelled")}); !errors.Is(err, context.Canceled) {
			t.Fatalf("save: %v", err)
		}
		if _, err := s.Delete(cctx, "ana", draft.ID); !errors.Is(err, context.Canceled) {
			t.Fatalf("delete: %v", err)
		}
		if _, err := s.ApplyRecords(cctx, []form.Record{draft}, "x"); !errors.Is(err, context.Canceled) {
			t.Fatalf("apply: %v", err)
		}
		if after := stateOf(t, s); !sameState(before, after) {
			t.Fatalf("changed:\n%+v\n%+v", before, after)
		}
	})
	t.Run("ErrBadInput_DeleteLongAuthor", func(t *testing.T) {
		before := stateOf(t, s)
		long := strings.Repeat("a", 257)
		if _, err := s.Delete(ctx, long, draft.ID); !errors.Is(err, store.ErrBadInput) || !strings.Contains(err.Error(), "author") {
			t.Fatalf("delete: %v", err)
		}
		if _, err := s.Restore(ctx, long, gone.ID); !errors.Is(err, store.ErrBadInput) {
			t.Fatalf("restore: %v", err)
		}
		if after := stateOf(t, s); !sameState(before, after) {
			t.Fatalf("changed:\n%+v\n%+v", before, after)
		}
	})
	t.Run("ErrBadInput_Search", func(t *testing.T) {
		for _, q := range []store.Query{{Status: "approved"}, {Limit: store.MaxPage + 1}, {Offset: -1}} {
			if _, err := s.Search(ctx, q); !errors.Is(err, store.ErrBadInput) {
				t.Errorf("search %+v: got %v, want ErrBadInput", q, err)
			}
		}
	})
	t.Run("OK", func(t *testing.T) {
		before := stateOf(t, s)
		r := mustSave(t, s, store.Edit{Record: draft.ID, Author: "ana", Status: form.StatusSubmitted,
			Values: vals("inspector", "Bo Berg", "ok", true, "signature", sig(stored.SHA256))})
		if r.Status() != form.StatusSubmitted {
			t.Fatalf("status %s", r.Status())
		}
		after := stateOf(t, s)
		if after.Pending != before.Pending+1 || after.Audit != before.Audit+1 || after.Count != before.Count {
			t.Fatalf("a good save: before %+v after %+v", before, after)
		}
		mustVerify(t, s)
	})
}

// TestBadApply: ApplyRecords and ApplyChanges reject each bad item with a reason and
// apply the good ones of the same batch; the rejected ones leave no trace.
func TestBadApply(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	src := openReplica(t, t.TempDir(), "dev-src", clk)
	dst := openReplica(t, t.TempDir(), "dev-dst", clk)

	// Good material from another device.
	var recs []form.Record
	for i, w := range []string{"alpha", "bravo", "charlie"} {
		clk.Advance(time.Minute)
		r := mustSave(t, src, store.Edit{Template: inspection, Author: "bo", Values: vals("site_code", "S-1000"+string(rune('0'+i)), "notes", w)})
		recs = append(recs, r)
	}
	changes := pendingChanges(t, src)
	clk.Advance(time.Minute)

	stamp := func(d time.Duration) form.Stamp {
		return form.Stamp{HLC: form.NewHLC(clk.Now().Add(d).UnixMilli(), 0), Device: "dev-evil"}
	}
	badRecord := func(mut func(*form.Record)) form.Record {
		r := recs[0].Clone()
		r.ID = form.NewID()
		mut(&r)
		return r
	}
	skewed := badRecord(func(r *form.Record) {
		fv := r.Fields["notes"]
		fv.Stamp = stamp(form.MaxClockSkew + time.Hour)
		r.Fields["notes"] = fv
	})

	type bad struct {
		name string
		rec  form.Record
		err  error  // errors.Is target, nil when only a reason is expected
		msg  string // substring of the reason
	}
	bads := []bad{
		{name: "ErrUnknownTemplate_Version2", rec: badRecord(func(r *form.Record) { r.Version = 2 }), err: store.ErrUnknownTemplate},
		{name: "ErrUnknownTemplate_ID", rec: badRecord(func(r *form.Record) { r.Template = "nope" }), err: store.ErrUnknownTemplate},
		{name: "ErrInvalidValue_WrongType", rec: badRecord(func(r *form.Record) {
			r.Fields["pressure"] = form.FieldValue{Value: json.RawMessage(`"high"`), Stamp: stamp(0)}
		}), err: form.ErrInvalidValue, msg: `"pressure"`},
		{name: "ErrInvalidValue_UnknownField", rec: badRecord(func(r *form.Record) {
			r.Fields["colour"] = form.FieldValue{Value: json.RawMessage(`"red"`), Stamp: stamp(0)}
		}), err: form.ErrInvalidValue, msg: `"colour"`},
		{name: "ErrShape_BadID", rec: badRecord(func(r *form.Record) { r.ID = "not-a-uuid" }), err: form.ErrShape, msg: "not-a-uuid"},
		{name: "ErrShape_BadStatus", rec: badRecord(func(r *form.Record) {
			r.Fields[form.FieldStatus] = form.FieldValue{Value: json.RawMessage(`"approved"`), Stamp: stamp(0)}
		}), err: form.ErrShape, msg: "approved"},
		{name: "ErrShape_NoStamp", rec: badRecord(func(r *form.Record) {
			r.Fields["notes"] = form.FieldValue{Value: json.RawMessage(`"x"`)}
		}), err: form.ErrShape, msg: `"notes"`},
		{name: "ErrClockSkew", rec: skewed, err: form.ErrClockSkew},
		{name: "ErrUnknownTemplate_SameIDOtherTemplate", rec: func() form.Record {
			// Same ID as a good record of the batch, but claiming another template.
			r := recs[1].Clone()
			r.Template = "other"
			return r
		}(), err: store.ErrUnknownTemplate},
	}

	t.Run("ApplyRecords", func(t *testing.T) {
		before := stateOf(t, dst)
		batch := []form.Record{recs[0]}
		for _, b := range bads {
			batch = append(batch, b.rec)
		}
		batch = append(batch, recs[1])
		res, err := dst.ApplyRecords(ctx, batch, "sync")
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(batch) {
			t.Fatalf("%d results for %d records", len(res), len(batch))
		}
		for i, want := range []int{0, len(batch) - 1} {
			if res[want].Status != store.Applied || res[want].Err != nil {
				t.Errorf("good record %d: %+v", i, res[want])
			}
		}
		for i, b := range bads {
			r := res[i+1]
			t.Run(b.name, func(t *testing.T) {
				if r.Status != store.Rejected || r.Err == nil {
					t.Fatalf("got %+v, want rejected", r)
				}
				if r.ID != b.rec.ID {
					t.Errorf("result id %q, want %q", r.ID, b.rec.ID)
				}
				if b.err != nil && !errors.Is(r.Err, b.err) {
					t.Errorf("reason %v, want %v", r.Err, b.err)
				}
				reason := store.RejectionReason(r.Err)
				if reason == "" || strings.Contains(reason, "\n") || !strings.Contains(reason, b.msg) {
					t.Errorf("reason %q should be one line containing %q", reason, b.msg)
				}
				if b.rec.ID != recs[1].ID {
					if _, err := dst.Get(ctx, b.rec.ID); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("rejected record stored: %v", err)
					}
				}
			})
		}
		after := stateOf(t, dst)
		if after.Count != before.Count+2 || after.Audit != before.Audit+2 || after.Live != before.Live+2 || after.Pending != before.Pending {
			t.Fatalf("before %+v\nafter %+v: want exactly the two good records", before, after)
		}
		for _, r := range recs[:2] {
			if got := mustGet(t, dst, r.ID); got.Rev() != r.Rev() {
				t.Errorf("record %s: rev %s, want %s", r.ID, got.Rev(), r.Rev())
			}
		}
		p, err := dst.Search(ctx, store.Query{Text: "alpha"})
		if err != nil || p.Total != 1 {
			t.Fatalf("search alpha: %+v %v", p, err)
		}
		mustVerify(t, dst)
	})

	t.Run("ApplyChanges", func(t *testing.T) {
		dst := openReplica(t, t.TempDir(), "dev-dst2", clk)
		before := stateOf(t, dst)
		asChange := func(r form.Record) form.Change { return form.ChangeFrom(form.NewID(), r, "mallory", "dev-evil") }
		batch := []form.Change{changes[0]}
		var want []bad
		for _, b := range bads {
			batch = append(batch, asChange(b.rec))
			want = append(want, b)
		}
		noID := asChange(recs[2])
		noID.ID = "change-1"
		batch = append(batch, noID)
		want = append(want, bad{name: "ErrBadInput_ChangeID", err: store.ErrBadInput, msg: "change-1"})
		noDev := asChange(recs[2])
		noDev.Device = ""
		batch = append(batch, noDev)
		want = append(want, bad{name: "ErrBadInput_Device", err: store.ErrBadInput, msg: "device"})
		batch = append(batch, changes[1])
		res, err := dst.ApplyChanges(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != store.Applied || res[len(res)-1].Status != store.Applied {
			t.Fatalf("good changes: %+v, %+v", res[0], res[len(res)-1])
		}
		for i, b := range want {
			r := res[i+1]
			t.Run(b.name, func(t *testing.T) {
				if r.Status != store.Rejected || r.Err == nil || r.ID != batch[i+1].ID {
					t.Fatalf("got %+v, want rejected %s", r, batch[i+1].ID)
				}
				if b.err != nil && !errors.Is(r.Err, b.err) {
					t.Errorf("reason %v, want %v", r.Err, b.err)
				}
				if !strings.Contains(store.RejectionReason(r.Err), b.msg) {
					t.Errorf("reason %q does not contain %q", r.Err, b.msg)
				}
				if form.ValidID(batch[i+1].ID) {
					if seen, err := dst.HasChange(ctx, batch[i+1].ID); err != nil || seen {
						t.Errorf("a rejected change is marked applied: %v %v", seen, err)
					}
				}
			})
		}
		after := stateOf(t, dst)
		if after.Count != before.Count+2 || after.Audit != before.Audit+2 {
			t.Fatalf("before %+v\nafter %+v: want exactly the two good changes", before, after)
		}
		mustVerify(t, dst)
	})

	// Rejected input must not move the replica's clock either: a record refused for its
	// template, with stamps just inside the skew bound, must not drag later local edits
	// a day into the future.
	t.Run("ErrUnknownTemplate_ClockUnmoved", func(t *testing.T) {
		dst := openReplica(t, t.TempDir(), "dev-dst3", clk)
		r := badRecord(func(r *form.Record) {
			r.Version = 2
			r.Created = stamp(form.MaxClockSkew - time.Hour)
			for id, fv := range r.Fields {
				fv.Stamp = stamp(form.MaxClockSkew - time.Hour)
				r.Fields[id] = fv
			}
		})
		res, err := dst.ApplyRecords(ctx, []form.Record{r}, "sync")
		if err != nil || res[0].Status != store.Rejected {
			t.Fatalf("got %+v %v, want rejected", res, err)
		}
		rs, err := dst.ApplyChanges(ctx, []form.Change{form.ChangeFrom(form.NewID(), r, "m", "dev-evil")})
		if err != nil || rs[0].Status != store.Rejected {
			t.Fatalf("got %+v %v, want rejected", rs, err)
		}
		local := mustSave(t, dst, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "now")})
		if got, now := local.Updated().HLC.Time(), clk.Now(); got.Sub(now) > time.Minute {
			t.Fatalf("a local edit after a rejected record is stamped %s, %s after now", got, got.Sub(now))
		}
	})
}
