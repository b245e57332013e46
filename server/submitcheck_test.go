package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// A submitted record is checked against its template on the server as on the device
// (issue: "a submitted record that lacks required answers is accepted by the
// server"): it is rejected alone, with a reason that names the field; drafts are not
// checked for required answers.
func TestServerChecksSubmittedRecords(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	const visit = `{"id":"visit","version":1,"name":"Visit","fields":[
	 {"id":"site","type":"text","label":"Site","required":true},
	 {"id":"score","type":"integer","label":"Score","min":0,"max":10}]}`
	if _, err := ts.AddTemplate(context.Background(), "acme", json.RawMessage(visit)); err != nil {
		t.Fatal(err)
	}
	d := ts.enroll(t, "acme", "ann")
	var tick int64
	change := func(record string, vals map[string]string) form.Change {
		tick++
		st := form.Stamp{HLC: form.NewHLC(time.Now().UnixMilli(), uint16(tick)), Device: d.id}
		ch := form.Change{ID: form.NewID(), Record: record, Template: "visit", Version: 1, Created: st, CreatedBy: "ann",
			Fields: map[string]form.FieldValue{}, Author: "ann", Device: d.id}
		for k, v := range vals {
			ch.Fields[k] = form.FieldValue{Value: json.RawMessage(v), Stamp: st}
		}
		return ch
	}
	draft := form.NewID()
	for _, c := range []struct {
		name   string
		change form.Change
		status string
	}{
		{"submitted without a required answer", change(form.NewID(), map[string]string{"score": "3", form.FieldStatus: `"submitted"`}), wire.StatusRejected},
		{"draft without a required answer", change(draft, map[string]string{"score": "3", form.FieldStatus: `"draft"`}), wire.StatusApplied},
		{"the draft submitted without it", change(draft, map[string]string{form.FieldStatus: `"submitted"`}), wire.StatusRejected},
		{"the draft submitted with it", change(draft, map[string]string{"site": `"Yard"`, form.FieldStatus: `"submitted"`}), wire.StatusApplied},
		{"submitted with every answer", change(form.NewID(), map[string]string{"site": `"Yard"`, form.FieldStatus: `"submitted"`}), wire.StatusApplied},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, a := d.push(t, c.change)
			wantCode(t, "push", a, 200, "")
			r := resp.Results[0]
			if r.Status != c.status {
				t.Fatalf("%+v, want %s", r, c.status)
			}
			if r.Status == wire.StatusRejected && (r.Code != wire.CodeInvalid || !strings.Contains(r.Message, "site") || !strings.Contains(r.Message, "required") || !strings.Contains(r.Message, c.change.Record)) {
				t.Fatalf("reason does not name the record, the field and the rule: %+v", r)
			}
		})
	}
	recs, _ := d.pullAll(t, "")
	if len(recs) != 2 {
		t.Fatalf("server holds %d records, want the draft (now submitted) and the complete one", len(recs))
	}
}
