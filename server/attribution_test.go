package server_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Who did it comes from the credential, not from the body (invariant I11): a device
// that says someone else made its change is recorded as itself, the claim kept in the
// note; and after a rebuild, records a device gives back for others keep their maker
// ("restored from device X; made by Y on device Z"), instead of naming the device that
// gave them back as their creator.
func TestAuditNamesTheCredential(t *testing.T) {
	opts := dirs(t)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	al := ts.enroll(t, "acme", "al")
	bob := ts.enroll(t, "acme", "bob")
	admin := ts.enrollAdmin(t, "acme", "ann")

	history := func(t *testing.T, record string) []wire.AuditEntry {
		t.Helper()
		var resp wire.AuditResponse
		wantCode(t, "audit", admin.do(t, "GET", "/v1/admin/audit?record="+record, nil, &resp), 200, "")
		if len(resp.Entries) == 0 {
			t.Fatalf("no audit of %s", record)
		}
		return resp.Entries
	}

	t.Run("claimed author", func(t *testing.T) {
		ch := al.change(form.NewID(), "Yard", 1)
		ch.Author, ch.CreatedBy = "mallory", "mallory"
		if resp, a := al.push(t, ch); a.code != 200 || resp.Results[0].Status != wire.StatusApplied {
			t.Fatalf("push: %d %+v", a.code, resp.Results)
		}
		for _, e := range history(t, ch.Record) {
			if e.Actor != "al" || e.Device != al.id {
				t.Fatalf("audit names %q on %s, want al on %s: %+v", e.Actor, e.Device, al.id, e)
			}
			if !strings.Contains(e.Note, `claimed author "mallory"`) || !strings.Contains(e.Note, `claimed creator "mallory"`) {
				t.Fatalf("the claim is not kept: %q", e.Note)
			}
		}
	})

	t.Run("restored after a rebuild", func(t *testing.T) {
		ch := al.change(form.NewID(), "Made by al", 2)
		ch.CreatedBy = "al"
		if _, a := al.push(t, ch); a.code != 200 {
			t.Fatalf("push: %d", a.code)
		}
		// bob pulled al's record; the server loses its data folder.
		ts.stop()
		if err := os.RemoveAll(opts.DataDir); err != nil {
			t.Fatal(err)
		}
		ts2 := startServer(t, opts)
		ts2.addTemplateAgain(t, "acme")
		al.ts, bob.ts, admin.ts = ts2, ts2, ts2
		// bob gives the record back as his own change, the values keeping al's stamps.
		back := form.ChangeFrom(form.NewID(), ch.AsRecord(), "bob", bob.id)
		if resp, a := bob.push(t, back); a.code != 200 || resp.Results[0].Status != wire.StatusApplied {
			t.Fatalf("give back: %d %+v %+v", a.code, a.err, resp.Results)
		}
		h := history(t, ch.Record)
		e := h[0]
		want := "restored from device " + bob.id + "; made by " + strconv.Quote("al") + " on device " + al.id
		if e.Actor != "bob" || e.Device != bob.id || !strings.Contains(e.Note, want) {
			t.Fatalf("audit of a record given back: actor %q device %s note %q; want bob on %s, note %q", e.Actor, e.Device, e.Note, bob.id, want)
		}
		if strings.Contains(e.Note, "claimed") {
			t.Fatalf("bob claimed nothing: %q", e.Note)
		}
	})
}

// addTemplateAgain publishes the test template on a server that lost it.
func (ts *testServer) addTemplateAgain(t testing.TB, tenant string) {
	t.Helper()
	if _, err := ts.AddTemplate(t.Context(), tenant, []byte(inspection)); err != nil {
		t.Fatal(err)
	}
}
