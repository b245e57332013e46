package sync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Five devices work offline — create, edit, delete — then the network heals: every
// replica and the server hold the same records with the same revs.
func TestFiveDevicesConverge(t *testing.T) {
	c := newCluster(t)
	var devs []*device
	for i := 0; i < 5; i++ {
		devs = append(devs, c.addDevice(fmt.Sprintf("dev%d", i)))
	}
	shared := devs[0].save(t, "", map[string]string{"site": `"S-shared"`})
	devs[0].sync(t)
	for _, d := range devs {
		d.sync(t)
	}
	// Offline work.
	for i, d := range devs {
		for k := 0; k < 20; k++ {
			r := d.save(t, "", map[string]string{"site": fmt.Sprintf(`"S-%d-%d"`, i, k), "score": fmt.Sprint(k)})
			if k%5 == 0 {
				d.save(t, r.ID, map[string]string{"notes": `"edited"`})
			}
			if k%7 == 0 {
				if _, err := d.st.Delete(context.Background(), d.name, r.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		d.save(t, shared.ID, map[string]string{"notes": fmt.Sprintf(`"from %s"`, d.name), "score": fmt.Sprint(i)})
	}
	// Heal: everyone syncs, twice so that each sees the others' changes.
	for round := 0; round < 2; round++ {
		for _, d := range devs {
			d.sync(t)
		}
	}
	c.converged(t, 1+5*20)
	for _, d := range devs {
		n, _ := d.st.PendingCount(context.Background())
		if n != 0 {
			t.Fatalf("%s still has %d pending", d.name, n)
		}
	}
}

// The server's data folder is lost and the server restarts with the same config: the
// devices notice (new epoch), re-register with their credentials and push back
// everything, with no command given.
func TestServerDataLostIsRebuilt(t *testing.T) {
	c := newCluster(t)
	a, b := c.addDevice("a"), c.addDevice("b")
	var ofB string
	for i := 0; i < 30; i++ {
		a.save(t, "", map[string]string{"site": fmt.Sprintf(`"A-%d"`, i)})
		ofB = b.save(t, "", map[string]string{"site": fmt.Sprintf(`"B-%d"`, i)}).ID
	}
	a.sync(t)
	b.sync(t)
	a.sync(t)
	c.converged(t, 60)

	c.wipeData(t)
	// Work continues meanwhile on a device.
	a.save(t, "", map[string]string{"site": `"after the loss"`})
	a.sync(t) // notices the new epoch, reconciles, pushes everything it holds
	b.sync(t)
	a.sync(t)
	c.converged(t, 61)
	// a gave b's records back: the server's audit says so, and names b as their maker.
	raw, err := c.srv.RunAdmin(context.Background(), server.OpAudit, mustJSON(t, server.AuditArgs{Tenant: tenantName, Record: ofB}))
	if err != nil {
		t.Fatal(err)
	}
	entries := raw.(wire.AuditResponse).Entries
	want := "restored from device " + a.st.Device() + `; made by "b" on device ` + b.st.Device()
	if len(entries) == 0 || entries[0].Actor != "a" || entries[0].Device != a.st.Device() || !strings.Contains(entries[0].Note, want) {
		t.Fatalf("server audit of b's record given back by a: %+v; want a's credential and the note %q", entries, want)
	}
	// The templates came back from the devices, with the tenant's signature: a new
	// device gets them from the rebuilt server.
	if tpls := c.observer(t).Templates(); len(tpls) != 1 || tpls[0].ID != "inspection" {
		t.Fatalf("rebuilt server's templates: %v", tpls)
	}
}

// A template a device that is not an admin's made offline stays on that device: the
// server refuses to publish it to the tenant, and the device's other work goes on.
func TestDeviceCannotPublishTemplate(t *testing.T) {
	c := newCluster(t)
	a := c.addDevice("a")
	local, err := form.ParseTemplate([]byte(`{"id":"local-try","version":1,"name":"Local try","fields":[{"id":"x","type":"text","label":"X"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.st.PutTemplate(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	a.save(t, "", map[string]string{"site": `"still synced"`})
	a.sync(t)
	c.converged(t, 1)
	for _, tpl := range c.observer(t).Templates() {
		if tpl.ID == "local-try" {
			t.Fatal("a device that is not an admin's published a template to the tenant")
		}
	}
	if _, err := a.st.Template(local.Key()); err != nil {
		t.Fatalf("the device lost its own template: %v", err)
	}
}

// The server's tenant file is replaced by a copy taken earlier while the devices kept
// working: the devices bring back everything that came after the copy.
func TestServerRestoredFromOlderCopy(t *testing.T) {
	c := newCluster(t)
	a, b := c.addDevice("a"), c.addDevice("b")
	for i := 0; i < 10; i++ {
		a.save(t, "", map[string]string{"site": fmt.Sprintf(`"early-%d"`, i)})
	}
	a.sync(t)
	b.sync(t)
	// Copy the tenant's files while the server is stopped.
	tenantDir := filepath.Join(c.opts.DataDir, "tenants", tenantName)
	backup := t.TempDir()
	c.stop()
	copyDir(t, tenantDir, backup)
	c.start()
	// Both keep working and syncing after the copy.
	for i := 0; i < 10; i++ {
		a.save(t, "", map[string]string{"site": fmt.Sprintf(`"late-a-%d"`, i)})
		b.save(t, "", map[string]string{"site": fmt.Sprintf(`"late-b-%d"`, i)})
	}
	a.sync(t)
	b.sync(t)
	a.sync(t)
	c.converged(t, 30)
	// Restore the old copy in place.
	c.stop()
	if err := os.RemoveAll(tenantDir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, backup, tenantDir)
	c.start()
	a.sync(t)
	b.sync(t)
	a.sync(t)
	c.converged(t, 30)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Two devices edit the same field offline: one value wins everywhere and the other is
// in the record's history. Edits of different fields are both kept.
func TestConcurrentEdits(t *testing.T) {
	c := newCluster(t)
	a, b := c.addDevice("a"), c.addDevice("b")
	r := a.save(t, "", map[string]string{"site": `"S-1"`})
	a.sync(t)
	b.sync(t)
	a.save(t, r.ID, map[string]string{"notes": `"from a"`, "score": "10"})
	time.Sleep(2 * time.Millisecond)
	b.save(t, r.ID, map[string]string{"notes": `"from b"`, "ok": "true"})
	a.sync(t)
	b.sync(t)
	a.sync(t)
	c.converged(t, 1)
	got, _ := a.st.Get(context.Background(), r.ID)
	if string(got.Value("notes")) != `"from b"` || string(got.Value("score")) != "10" || string(got.Value("ok")) != "true" {
		t.Fatalf("merged record: notes %s score %s ok %s", got.Value("notes"), got.Value("score"), got.Value("ok"))
	}
	// The losing value is in a's history.
	h, _ := a.st.History(context.Background(), r.ID)
	found := false
	for _, e := range h {
		for _, d := range e.Diff {
			if d.Field == "notes" && (string(d.Old) == `"from a"` || string(d.New) == `"from a"`) && e.Device != "" {
				found = found || e.Action == store.ActionApply || e.Action == store.ActionConflict
			}
		}
	}
	if !found {
		t.Fatalf("the losing value is not in the history: %+v", h)
	}
}

// A device whose clock is a year ahead: its changes are refused with a clock-skew
// reason, kept as dead letters and shown in the status; nothing reaches the server.
func TestClockAhead(t *testing.T) {
	c := newCluster(t)
	future := func(o *store.Options) { o.Now = func() time.Time { return time.Now().AddDate(1, 0, 0) } }
	d := c.addDevice("ahead", future)
	ok := c.addDevice("ok")
	d.save(t, "", map[string]string{"site": `"from the future"`})
	ok.save(t, "", map[string]string{"site": `"now"`})
	d.sync(t)
	ok.sync(t)
	dead, _ := d.st.DeadLetters(context.Background())
	if len(dead) != 1 || !strings.Contains(dead[0].Reason, "clock") {
		t.Fatalf("dead letters: %+v", dead)
	}
	st := d.rep.Status()
	if st.State != sync.StateError || !strings.Contains(st.Message, "clock") {
		t.Fatalf("status: %+v", st)
	}
	if n := len(c.serverRevs(t)); n != 1 {
		t.Fatalf("server holds %d records, want only the good one", n)
	}
}

// One poison change among many is dead-lettered with the server's reason; the rest
// arrive.
func TestPoisonChange(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	// The server holds template "strict" with a site of at most 3 characters; the
	// device holds the same version with no such rule (a template edited in place,
	// which versions forbid — exactly the kind of mistake a dead letter is for).
	strict := strings.Replace(strings.Replace(inspection, `"id":"inspection"`, `"id":"strict"`, 1), `"required":true}`, `"required":true,"max_length":3}`, 1)
	if _, err := c.srv.AddTemplate(ctx, tenantName, []byte(strict)); err != nil {
		t.Fatal(err)
	}
	lenient, err := form.ParseTemplate([]byte(strings.Replace(inspection, `"id":"inspection"`, `"id":"strict"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutTemplate(ctx, lenient); err != nil {
		t.Fatal(err)
	}
	code, _ := c.srv.NewEnrolment(ctx, tenantName, "d2", false, c.url())
	cred, err := sync.Enroll(ctx, code, st.Device(), "d2", sync.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sync.SaveCredential(ctx, st, cred); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 10; i++ {
		r, err := st.Save(ctx, store.Edit{Template: form.TemplateKey{ID: "inspection"}, Author: "d2", Values: form.Values{"site": []byte(fmt.Sprintf(`"S-%d"`, i))}})
		if err != nil && errors.Is(err, store.ErrUnknownTemplate) {
			// The inspection template arrives with the first sync.
			if _, err := sync.New(st, sync.Options{}).SyncOnce(ctx); err != nil {
				t.Fatal(err)
			}
			r, err = st.Save(ctx, store.Edit{Template: form.TemplateKey{ID: "inspection"}, Author: "d2", Values: form.Values{"site": []byte(fmt.Sprintf(`"S-%d"`, i))}})
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		if i == 4 {
			poison, err := st.Save(ctx, store.Edit{Template: lenient.Key(), Author: "d2", Values: form.Values{"site": []byte(`"too long for the server"`)}})
			if err != nil {
				t.Fatal(err)
			}
			defer func(id string) {
				dead, _ := st.DeadLetters(ctx)
				if len(dead) != 1 || dead[0].Change.Record != id || !strings.Contains(dead[0].Reason, "invalid") || !strings.Contains(dead[0].Reason, "site") {
					t.Errorf("dead letters: %+v", dead)
				}
			}(poison.ID)
		}
	}
	rep := sync.New(st, sync.Options{})
	if _, err := rep.SyncOnce(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if s := rep.Status(); s.State != sync.StateError || s.DeadLetters != 1 {
		t.Errorf("status: %+v", s)
	}
	if n, _ := st.PendingCount(ctx); n != 0 {
		t.Errorf("%d changes still pending", n)
	}
	srv := c.serverRevs(t)
	for _, id := range ids {
		if _, ok := srv[id]; !ok {
			t.Fatalf("record %s did not arrive", id)
		}
	}
}

// A device of an earlier release keeps no template signatures: a rebuilt server
// refuses its templates, and the records of those templates, but nothing is lost —
// the device keeps them, and once an admin publishes the template again a reseed
// brings them to the server.
func TestRebuiltServerWithoutSignedTemplatesLosesNothing(t *testing.T) {
	c := newCluster(t)
	a := c.addDevice("a")
	for i := 0; i < 3; i++ {
		a.save(t, "", map[string]string{"site": fmt.Sprintf(`"A-%d"`, i)})
	}
	a.sync(t)
	c.converged(t, 3)
	ctx := context.Background()
	if err := a.st.SetState(ctx, map[string][]byte{"sync/template-sig/inspection@1": nil}); err != nil {
		t.Fatal(err)
	}
	c.wipeData(t)
	a.sync(t)
	if n := len(c.observer(t).Templates()); n != 0 {
		t.Fatalf("the rebuilt server took %d unsigned templates from a device that is not an admin's", n)
	}
	if n := len(revs(t, a.st)); n != 3 {
		t.Fatalf("the device holds %d records, want 3", n)
	}
	if _, err := c.srv.AddTemplate(ctx, tenantName, json.RawMessage(inspection)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.rep.Reseed(ctx); err != nil {
		t.Fatal(err)
	}
	c.converged(t, 3)
}
