package app

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// openSettings shows the settings screen of a main view.
func openSettings(t *testing.T, d Deps) (*mainView, *settingsScreen, uiQueue, *testSaver) {
	t.Helper()
	v, q, saver := testMain(t, d, tabletSize)
	test.Tap(v.setBtn)
	q.settle(v.env.ui)
	if v.settings == nil {
		t.Fatal("Settings did not open")
	}
	return v, v.settings, q, saver
}

var adminStatus = SyncStatus{State: SyncIdle, Server: "https://forms.example.org", ServerHealth: "ready", User: "ana", Admin: true}

func TestSettings(t *testing.T) {
	t.Run("Enrol", func(t *testing.T) {
		s := newFakeSync(SyncStatus{State: SyncNotEnrolled, Message: "enrol this device to sync"})
		_, st, q, _ := openSettings(t, Deps{Replica: newFakeReplica(t), Sync: s})
		if !strings.HasPrefix(st.server.Text, "Not enrolled") {
			t.Fatalf("server: %q", st.server.Text)
		}

		// Nothing pasted: say what to do, without asking the server.
		test.Tap(st.enrolBtn)
		if st.enrolMsg.Text != noCodeText || s.callCount("Enroll") != 0 {
			t.Fatalf("empty code: message %q, %d enrolments", st.enrolMsg.Text, s.callCount("Enroll"))
		}

		// A refused code: plain words, and the code stays to be corrected.
		st.deviceName.SetText("Tablet 7")
		test.Type(st.code, "FF1-abc\ndef ")
		s.enrollErr = errors.New("the code was already used")
		test.Tap(st.enrolBtn)
		if st.enrolBtn.Disabled() == false || st.enrolMsg.Text != "Enrolling…" {
			t.Fatalf("while enrolling: button enabled %v, message %q", !st.enrolBtn.Disabled(), st.enrolMsg.Text)
		}
		q.settle(st.env.ui)
		if want := "This device was not enrolled: the code was already used. Check the code, or ask for a new one."; st.enrolMsg.Text != want {
			t.Fatalf("refused: message %q, want %q", st.enrolMsg.Text, want)
		}
		if st.code.Text == "" || st.enrolBtn.Disabled() {
			t.Fatal("a refused code was cleared, or the button stays disabled")
		}
		// The code reaches the engine without the line breaks a paste brings.
		if got := s.enrolled[0]; got != "FF1-abcdef|Tablet 7" {
			t.Fatalf("enrolled with %q", got)
		}

		s.enrollErr = nil
		test.Tap(st.enrolBtn)
		q.settle(st.env.ui)
		if !strings.HasPrefix(st.enrolMsg.Text, "Enrolled.") || st.code.Text != "" {
			t.Fatalf("enrolled: message %q, code %q", st.enrolMsg.Text, st.code.Text)
		}
		// The device name is kept for next time.
		if got := st.env.app.Preferences().String(deviceNameKey); got != "Tablet 7" {
			t.Fatalf("device name preference %q", got)
		}
	})

	t.Run("ServerAndRoles", func(t *testing.T) {
		s := newFakeSync(SyncStatus{State: SyncIdle, Server: "https://forms.example.org", User: "bo"})
		v, st, q, _ := openSettings(t, Deps{Replica: newFakeReplica(t), Sync: s})
		for _, want := range []string{"Server: https://forms.example.org", "Health: not known yet", "Signed in as bo (user)", "Sync: up to date"} {
			if !strings.Contains(st.server.Text, want) {
				t.Fatalf("server %q lacks %q", st.server.Text, want)
			}
		}
		if st.admin.Visible() {
			t.Fatal("administration shown to a user who is not an admin")
		}
		// Made admin: the tools appear, following the engine's status.
		s.publish(adminStatus)
		q.settle(v.env.ui)
		if !st.admin.Visible() || !st.rebuildBtn.Visible() || !strings.Contains(st.server.Text, "Health: ready") {
			t.Fatalf("admin: tools shown %v, rebuild %v, server %q", st.admin.Visible(), st.rebuildBtn.Visible(), st.server.Text)
		}
	})

	t.Run("NoSync", func(t *testing.T) {
		_, st, _, _ := openSettings(t, Deps{Replica: newFakeReplica(t)})
		if st.syncBox.Visible() || st.rebuildBtn.Visible() {
			t.Fatal("enrolment or rebuild shown without a sync engine")
		}
		// Export and verify read only this device.
		if !st.admin.Visible() || !st.exportBtn.Visible() || !st.verifyBtn.Visible() {
			t.Fatal("export or verify hidden on a device no organisation holds")
		}
	})

	t.Run("Rebuild", func(t *testing.T) {
		s := newFakeSync(adminStatus)
		gate := make(chan struct{})
		s.reseedGate = gate
		s.reseed = []SyncStatus{
			{State: SyncRebuilding, Admin: true, Server: adminStatus.Server, ProgressWhat: "rebuilding the server", ProgressDone: 0, Total: 3000},
			{State: SyncRebuilding, Admin: true, Server: adminStatus.Server, ProgressWhat: "rebuilding the server", ProgressDone: 1200, Total: 3000},
		}
		v, st, q, _ := openSettings(t, Deps{Replica: newFakeReplica(t), Sync: s})
		w := v.env.w

		test.Tap(st.rebuildBtn)
		if texts := overlayTexts(w); !containsText(texts, rebuildTitle) {
			t.Fatalf("Rebuild shows %q, want the confirmation", texts)
		}
		tapOverlayButton(t, w, "Rebuild")
		q.until(t, "progress 1200 of 3000", func() bool { return st.rebuildBar.Value == 1200 })
		if !st.rebuildBar.Visible() || st.rebuildBar.Max != 3000 || !st.rebuildBtn.Disabled() {
			t.Fatalf("while rebuilding: bar shown %v, max %v, button enabled %v", st.rebuildBar.Visible(), st.rebuildBar.Max, !st.rebuildBtn.Disabled())
		}
		// The bar at the bottom shows it too.
		if !v.bar.progRow.Visible() || v.bar.progress.Value != 1200 || v.bar.what.Text != "Rebuilding the server" {
			t.Fatalf("sync bar: progress shown %v, %v, %q", v.bar.progRow.Visible(), v.bar.progress.Value, v.bar.what.Text)
		}
		close(gate)
		s.publish(adminStatus)
		q.settle(v.env.ui)
		if st.rebuildBar.Visible() || st.rebuildBtn.Disabled() || st.rebuildMsg.Text != "The server holds everything this device holds." {
			t.Fatalf("after rebuild: bar %v, button disabled %v, message %q", st.rebuildBar.Visible(), st.rebuildBtn.Disabled(), st.rebuildMsg.Text)
		}
		if v.bar.progRow.Visible() {
			t.Fatal("sync bar progress stays after the rebuild")
		}
	})

	t.Run("RebuildFails", func(t *testing.T) {
		s := newFakeSync(adminStatus)
		s.reseedErr = errors.New("server not reachable")
		v, st, q, _ := openSettings(t, Deps{Replica: newFakeReplica(t), Sync: s})
		test.Tap(st.rebuildBtn)
		tapOverlayButton(t, v.env.w, "Rebuild")
		q.settle(v.env.ui)
		if !strings.HasPrefix(st.rebuildMsg.Text, "The rebuild stopped: server not reachable.") {
			t.Fatalf("message %q", st.rebuildMsg.Text)
		}
	})

	t.Run("Export", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 3)
		f.addFile(t, []byte("photo bytes"), "image/jpeg", "a.jpg")
		_, st, q, saver := openSettings(t, Deps{Replica: f, Sync: newFakeSync(adminStatus)})

		// Cancelled: nothing is written.
		test.Tap(st.exportBtn)
		q.settle(st.env.ui)
		if f.callCount("Export") != 0 || saver.names[0] != "fieldforms-export-2026-03-01.zip" {
			t.Fatalf("cancelled export: %d exports, suggested %q", f.callCount("Export"), saver.names)
		}

		out := &memWriter{name: "backup.zip"}
		saver.next = out
		test.Tap(st.exportBtn)
		if !st.exportBusy.Visible() || !st.exportBtn.Disabled() {
			t.Fatal("no progress while exporting")
		}
		q.settle(st.env.ui)
		if !out.closed || st.exportBusy.Visible() || !strings.HasPrefix(st.exportMsg.Text, "Exported ") || !strings.HasSuffix(st.exportMsg.Text, " to backup.zip.") {
			t.Fatalf("export: closed %v, busy %v, message %q", out.closed, st.exportBusy.Visible(), st.exportMsg.Text)
		}
		z, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("the export is not a ZIP: %v", err)
		}
		var names []string
		for _, zf := range z.File {
			names = append(names, zf.Name)
		}
		if len(names) != 2 || names[0] != "records.json" {
			t.Fatalf("ZIP holds %q", names)
		}
		rc, _ := z.File[0].Open()
		recs, _ := io.ReadAll(rc)
		if strings.Count(string(recs), `"template":"checklist"`) != 3 {
			t.Fatalf("records.json: %s", recs)
		}

		// A failing export says so.
		f.exportFn = func(w io.Writer) error { w.Write([]byte("PK")); return errors.New("disk full") }
		saver.next = &memWriter{name: "b.zip"}
		test.Tap(st.exportBtn)
		q.settle(st.env.ui)
		if !strings.HasPrefix(st.exportMsg.Text, "The export failed: disk full.") {
			t.Fatalf("failed export: %q", st.exportMsg.Text)
		}
	})

	t.Run("Verify", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 2)
		v, st, q, _ := openSettings(t, Deps{Replica: f, Sync: newFakeSync(adminStatus)})
		test.Tap(st.verifyBtn)
		q.settle(v.env.ui)
		if texts := overlayTexts(v.env.w); !containsText(texts, "Local data is sound") || !containsText(texts, "Checked 2 forms and 2 audit entries. No problems found.") {
			t.Fatalf("verify report: %q", texts)
		}
		tapOverlayButton(t, v.env.w, "Close")

		f.verify = &VerifyReport{Records: 2, AuditEntries: 5, Problems: []string{"audit entry 4: hash does not match"}}
		test.Tap(st.verifyBtn)
		q.settle(v.env.ui)
		if texts := overlayTexts(v.env.w); !containsText(texts, "Local data has problems") || !containsText(texts, "• audit entry 4: hash does not match") {
			t.Fatalf("verify report with a problem: %q", texts)
		}
	})
}

func TestTemplatePickerEmpty(t *testing.T) {
	f := newFakeReplica(t)
	f.templates = nil
	v, _, _ := testMain(t, Deps{Replica: f}, tabletSize)
	test.Tap(v.newBtn)
	if texts := shownTexts(v.pane); !containsText(texts, "There are no templates on this device yet.") {
		t.Fatalf("picker without templates: %q", texts)
	}
}
