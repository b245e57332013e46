package server

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// pushChange is a well-formed change, as a device sends it.
func pushChange(id string) string {
	st := form.Stamp{HLC: form.NewHLC(1767225600000, 0), Device: "dev-1"}
	c := form.Change{ID: id, Record: "0190a5b2-7c3d-7e4f-8a1b-000000000001", Template: "inspection", Version: 1,
		Created: st, CreatedBy: "ann", Author: "ann", Device: "dev-1",
		Fields: map[string]form.FieldValue{"site": {Value: json.RawMessage(`"a \"b\" <c>"`), Stamp: st}, "score": {Value: json.RawMessage(`[1,{"x":"]}"}]`), Stamp: st}}}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

const (
	idA = "0190a5b2-7c3d-7e4f-8a1b-00000000000a"
	idB = "0190a5b2-7c3d-7e4f-8a1b-00000000000b"
)

// pushAgree fails unless the one-pass reader and the strict decoder give the same
// answer for body: the same error for the whole body, or the same changes, each
// decoded or refused alike. It returns the whole body's error and the cut's verdict.
func pushAgree(t *testing.T, body []byte) (error, bool) {
	t.Helper()
	freq, fdec, ferrs, ferr := decodePushWith(body, true)
	sreq, sdec, serrs, serr := decodePushWith(body, false)
	if (ferr == nil) != (serr == nil) || ferr != nil && ferr.Error() != serr.Error() {
		t.Fatalf("body %q: one pass: %v; strict: %v", body, ferr, serr)
	}
	if !reflect.DeepEqual(freq, sreq) || !reflect.DeepEqual(fdec, sdec) || len(ferrs) != len(serrs) {
		t.Fatalf("body %q: one pass read %+v %+v; strict %+v %+v", body, freq, fdec, sreq, sdec)
	}
	for i := range ferrs {
		if (ferrs[i] == nil) != (serrs[i] == nil) {
			t.Fatalf("body %q: change %d: one pass %v; strict %v", body, i, ferrs[i], serrs[i])
		}
	}
	_, cut := cutPushBody(body)
	return ferr, cut
}

func TestDecodePushBothPaths(t *testing.T) {
	a, b := pushChange(idA), pushChange(idB)
	many := `{"changes":[` + strings.Repeat(`{"seq":1,"change":{}},`, wire.MaxPushChanges) + `{"seq":2,"change":{}}]}`
	tests := []struct {
		name, body string
		cut        bool   // the one-pass reader takes the layout
		err        string // refuses the whole body, with this
		bad        []bool // changes refused alone
	}{
		{"two changes", `{"changes":[{"seq":1,"change":` + a + `},{"seq":2,"change":` + b + `}]}`, true, "", []bool{false, false}},
		{"a trailing newline", `{"changes":[{"seq":1,"change":` + a + `}]}` + "\n", true, "", []bool{false}},
		{"no changes", `{"changes":[]}`, true, "", nil},
		{"null changes", `{"changes":null}`, true, "", nil},
		{"a malformed change is refused alone", `{"changes":[{"seq":1,"change":{"id":"x"}},{"seq":2,"change":` + b + `}]}`, true, "", []bool{true, false}},
		{"a change that is an array", `{"changes":[{"seq":1,"change":[1]}]}`, true, "", []bool{true}},
		{"white space", `{"changes": [{"seq":1,"change":` + a + `}]}`, false, "", []bool{false}},
		{"keys in another order", `{"changes":[{"change":` + a + `,"seq":1}]}`, false, "", []bool{false}},
		{"a change of null", `{"changes":[{"seq":1,"change":null}]}`, false, "", []bool{true}},
		{"empty", ``, false, "request body: empty; a JSON object is expected", nil},
		{"an unknown field", `{"changes":[],"more":1}`, false, `request body: unknown field "more"`, nil},
		{"an unknown item field", `{"changes":[{"seq":1,"change":` + a + `,"x":1}]}`, false, `request body: unknown field "x"`, nil},
		{"a change that is not JSON", `{"changes":[{"seq":1,"change":{"id":}}]}`, true, "request body: malformed JSON at byte 37", nil},
		{"a bad value inside a change", `{"changes":[{"seq":1,"change":` + strings.Replace(a, `[1,`, `[1,,`, 1) + `}]}`, true, "malformed JSON at byte", nil},
		{"brackets that do not match", `{"changes":[{"seq":1,"change":{"a":[}]}]}`, true, "malformed JSON at byte", nil},
		{"ends early", `{"changes":[{"seq":1,"change":` + a, false, "request body: JSON ends early", nil},
		{"data after the body", `{"changes":[]}{}`, false, "unexpected data after the JSON value", nil},
		{"a negative seq", `{"changes":[{"seq":-1,"change":` + a + `}]}`, false, "changes.seq: expected uint64", nil},
		{"a seq over uint64", `{"changes":[{"seq":18446744073709551616,"change":` + a + `}]}`, false, "changes.seq: expected uint64", nil},
		{"a seq with a leading zero", `{"changes":[{"seq":01,"change":` + a + `}]}`, false, "malformed JSON", nil},
		{"a fraction of a seq", `{"changes":[{"seq":1.5,"change":` + a + `}]}`, false, "expected uint64", nil},
		{"changes not a list", `{"changes":{}}`, false, "expected []server.pushItem", nil},
		{"too many changes", many, true, "push of 5001 changes; at most 5000 a batch", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, cut := pushAgree(t, []byte(tt.body))
			if cut != tt.cut {
				t.Errorf("the one-pass reader took the layout: %v, want %v", cut, tt.cut)
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if err != nil {
				var ae *apiError
				if !errors.As(err, &ae) || ae.Error() == "" || strings.Contains(ae.Error(), "\n") {
					t.Fatalf("error %T %q is not one line for the caller", err, err)
				}
				return
			}
			_, _, errs, _ := decodePush([]byte(tt.body))
			if len(errs) != len(tt.bad) {
				t.Fatalf("%d results, want %d", len(errs), len(tt.bad))
			}
			for i := range errs {
				if (errs[i] != nil) != tt.bad[i] {
					t.Errorf("change %d: %v, want refused %v", i, errs[i], tt.bad[i])
				}
			}
		})
	}
}

// FuzzDecodePush: the one-pass reader of push bodies and the strict decoder agree
// on every body (seeds in testdata/fuzz/FuzzDecodePush).
func FuzzDecodePush(f *testing.F) {
	a := pushChange(idA)
	f.Add([]byte(`{"changes":[{"seq":1,"change":` + a + `},{"seq":2,"change":` + pushChange(idB) + `}]}`))
	f.Add([]byte(`{"changes":[{"seq":1,"change":{"id":}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) { pushAgree(t, body) })
}
