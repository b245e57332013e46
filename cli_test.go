package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	fyneapp "fyne.io/fyne/v2/app"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/internal/initstderr"
	"github.com/fieldforms/fieldforms/store"
)

// cliBin is the fieldforms binary the tests run, built once by TestMain.
var cliBin string

func TestMain(m *testing.M) {
	// This test binary links initstderr too: give standard error back before
	// anything (a race report, a panic) needs it.
	os.Stderr.Write(dropFyneInitNoise(initstderr.Release()))
	if os.Getenv(fyneRootEnv) == "1" { // a child of TestCLIDefaultDataDir
		fmt.Print(fyneapp.NewWithID(appID).Storage().RootURI().Path())
		os.Exit(0)
	}
	if os.Getenv(robustChildEnv) != "" { // the crashed writer of TestRobustDamage
		os.Exit(robustWriterChild())
	}
	os.Exit(testMain(m))
}

// fyneRootEnv makes the test binary print Fyne's storage root for the app and
// exit.
const fyneRootEnv = "FIELDFORMS_TEST_FYNE_ROOT"

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fieldforms-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cliBin = filepath.Join(dir, "fieldforms")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	args := []string{"build", "-o", cliBin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command(goCmd, append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// cliResult is what one run of the binary did.
type cliResult struct {
	code           int
	stdout, stderr string
}

// headlessEnv is the environment the binary runs in: no display at all, and the
// C locale, which makes Fyne's package initialisation complain (see
// internal/initstderr), so that tests see any such noise leak through.
func headlessEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "DISPLAY", k == "WAYLAND_DISPLAY", k == "LANG", k == "LANGUAGE", strings.HasPrefix(k, "LC_"),
			strings.HasPrefix(k, "FIELDFORMS_"), k == "XDG_CONFIG_HOME", k == "GORACE":
			continue
		}
		env = append(env, kv)
	}
	// A race-detecting binary sleeps a second on exit unless told not to.
	env = append(env, "LANG=C.UTF-8", "XDG_CONFIG_HOME="+t.TempDir(), "GORACE=atexit_sleep_ms=0")
	return append(env, extra...)
}

// runIn runs the binary with stdin and env, and waits at most a minute.
func runIn(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("fieldforms %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// cli runs `fieldforms --data dir ARGS` headless.
func cli(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	return runIn(t, headlessEnv(t), "", append([]string{"--data", dir}, args...)...)
}

// ok runs a command that must succeed silently on standard error, and returns
// its standard output.
func ok(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return mustSucceed(t, cli(t, dir, args...), args)
}

func mustSucceed(t *testing.T, r cliResult, args []string) string {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("fieldforms %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails checks that a run failed with the exit status and exactly one line on
// standard error, starting "fieldforms: " and holding every want, and wrote
// nothing to standard output.
func fails(t *testing.T, r cliResult, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") || !strings.HasPrefix(r.stderr, "fieldforms: ") {
		t.Errorf("stderr %q, want one line starting \"fieldforms: \"", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not mention %q", r.stderr, w)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
}

// replicaState is what a failed command must leave as it was.
type replicaState struct {
	records, pending, audit, attachments int
	revs                                 string
}

func snapshot(t *testing.T, dir string) replicaState {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var s replicaState
	if s.records, err = st.Count(ctx); err != nil {
		t.Fatal(err)
	}
	if s.pending, err = st.PendingCount(ctx); err != nil {
		t.Fatal(err)
	}
	audit, err := st.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.audit = len(audit)
	atts, err := st.Attachments(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	s.attachments = len(atts)
	revs, err := st.Revs(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	s.revs = fmt.Sprint(revs)
	return s
}

func setState(t *testing.T, dir, key string, value []byte) {
	t.Helper()
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetState(context.Background(), map[string][]byte{key: value}); err != nil {
		t.Fatal(err)
	}
}

func writeImage(t *testing.T, path string, enc func(io.Writer, image.Image) error) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(w io.Writer, img image.Image) error  { return png.Encode(w, img) }
func encodeJPEG(w io.Writer, img image.Image) error { return jpeg.Encode(w, img, nil) }

// siteInspection is a valid draft of the sample site-inspection template.
const siteInspection = `{"site_code": "NW-0412", "inspector": "Ann Smith", "inspection_date": "2026-03-02",
	"arrival_time": "07:30", "location": {"lat": 51.5072, "lon": -0.1276, "accuracy": 8},
	"weather": "rain", "workers_on_site": 14, "hazards_present": true, "hazards": ["fall", "ppe"],
	"overall_rating": "conditional", "corrective_actions": "Edge protection on level 3 before Monday."}`

type showJSON struct {
	ID       string `json:"id"`
	Template string `json:"template"`
	Title    string `json:"title"`
	Status   string `json:"status"`
	Deleted  bool   `json:"deleted"`
	Values   map[string]struct {
		Label   string          `json:"label"`
		Value   json.RawMessage `json:"value"`
		Display string          `json:"display"`
	} `json:"values"`
	History []store.AuditEntry `json:"history"`
}

func show(t *testing.T, dir, id string) showJSON {
	t.Helper()
	var s showJSON
	if err := json.Unmarshal([]byte(ok(t, dir, "record", "show", "--json", id)), &s); err != nil {
		t.Fatalf("record show --json: %v", err)
	}
	return s
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

// TestCLISession runs the local commands the way a script would, end to end.
func TestCLISession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := t.TempDir()

	// templates
	out := ok(t, dir, "templates")
	if !slices.Contains(lines(out), "site-inspection\t1\tSite inspection\t15") {
		t.Errorf("templates:\n%s", out)
	}
	var ts []form.Template
	if err := json.Unmarshal([]byte(ok(t, dir, "templates", "--json")), &ts); err != nil {
		t.Fatal(err)
	}
	if len(ts) != 6 || !slices.ContainsFunc(ts, func(t form.Template) bool { return t.ID == "site-inspection" && len(t.Fields) == 18 }) {
		t.Errorf("templates --json: %d templates", len(ts))
	}

	// record new
	out = ok(t, dir, "record", "new", "--template", "site-inspection", "--json", siteInspection, "--author", "ann")
	id := strings.TrimSuffix(out, "\n")
	if !form.ValidID(id) {
		t.Fatalf("record new printed %q, want a record ID and nothing else", out)
	}

	// record list
	out = ok(t, dir, "record", "list")
	cols := strings.Split(strings.TrimSuffix(out, "\n"), "\t")
	if len(lines(out)) != 1 || len(cols) != 5 || cols[0] != id || cols[1] != "site-inspection" || cols[2] != "draft" || cols[4] != "NW-0412 · 2026-03-02" {
		t.Errorf("record list:\n%q", out)
	} else if _, err := time.Parse(time.RFC3339, cols[3]); err != nil {
		t.Errorf("record list: updated %q: %v", cols[3], err)
	}

	// record show
	s := show(t, dir, id)
	if s.ID != id || s.Status != "draft" || s.Deleted || s.Values["site_code"].Display != "NW-0412" ||
		s.Values["hazards"].Display != "Work at height without protection, Missing PPE" || s.Values["site_code"].Label != "Site code" {
		t.Errorf("record show --json: %+v", s)
	}
	if len(s.History) != 1 || s.History[0].Action != store.ActionCreate || s.History[0].Actor != "ann" {
		t.Errorf("history after create: %+v", s.History)
	}
	out = ok(t, dir, "record", "show", id)
	for _, w := range []string{"status    draft", "Site code (site_code)", "NW-0412", "history:", "create  by ann"} {
		if !strings.Contains(out, w) {
			t.Errorf("record show lacks %q:\n%s", w, out)
		}
	}

	// record edit: flags after the ID, values from standard input, the default
	// author (the system's user).
	mustSucceed(t, runIn(t, headlessEnv(t), `{"workers_on_site": 12, "weather": null}`, "--data", dir, "record", "edit", id, "--json", "-"), nil)
	s = show(t, dir, id)
	last := s.History[len(s.History)-1]
	if string(s.Values["workers_on_site"].Value) != "12" || s.Values["weather"].Value != nil || len(s.Values) != 10 {
		t.Errorf("after edit: %+v", s.Values)
	}
	if last.Action != store.ActionEdit || last.Actor != osUserName() || len(last.Diff) != 2 {
		t.Errorf("edit in history: %+v", last)
	}

	// attach: a photo, the same photo again (no change), and the signature.
	jpg := writeImage(t, filepath.Join(files, "scaffold.jpg"), encodeJPEG)
	sig := writeImage(t, filepath.Join(files, "signature.png"), encodePNG)
	photoSHA := strings.TrimSpace(ok(t, dir, "attach", id, "hazard_photos", filepath.Join(files, "scaffold.jpg"), "--author", "ann"))
	before := snapshot(t, dir)
	if again := strings.TrimSpace(ok(t, dir, "attach", id, "hazard_photos", filepath.Join(files, "scaffold.jpg"))); again != photoSHA {
		t.Errorf("attaching again printed %s, want %s", again, photoSHA)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("attaching the same file again changed the replica: %+v → %+v", before, after)
	}
	ok(t, dir, "attach", "--author", "ann", id, "inspector_signature", filepath.Join(files, "signature.png"))
	s = show(t, dir, id)
	var photos []form.Attachment
	if err := json.Unmarshal(s.Values["hazard_photos"].Value, &photos); err != nil || len(photos) != 1 ||
		photos[0].SHA256 != photoSHA || photos[0].Type != "image/jpeg" || photos[0].Name != "scaffold.jpg" || photos[0].Size != int64(len(jpg)) {
		t.Errorf("hazard_photos: %s (%v)", s.Values["hazard_photos"].Value, err)
	}

	// The enrolled user, once the device is enrolled, is the default author.
	setState(t, dir, credentialStateKey, []byte(`{"user": "carol", "token": "x"}`))
	ok(t, dir, "record", "edit", "--submit", id)
	s = show(t, dir, id)
	if last := s.History[len(s.History)-1]; s.Status != "submitted" || last.Action != store.ActionSubmit || last.Actor != "carol" {
		t.Errorf("after submit: status %s, last %+v", s.Status, last)
	}

	// A second and third record, for list's criteria.
	second := strings.TrimSpace(ok(t, dir, "record", "new", "--template", "incident-report@1", "--json", "{}"))
	third := strings.TrimSpace(ok(t, dir, "record", "new", "--template", "site-inspection", "--json", `{"site_code": "SE-1234"}`))
	if got := lines(ok(t, dir, "record", "list", "--limit", "2")); len(got) != 2 || !strings.HasPrefix(got[0], third) || !strings.HasPrefix(got[1], second) {
		t.Errorf("record list --limit 2:\n%s", strings.Join(got, "\n"))
	}
	if got := lines(ok(t, dir, "record", "list", "--template", "site-inspection", "--status", "submitted")); len(got) != 1 || !strings.HasPrefix(got[0], id) {
		t.Errorf("record list --template --status:\n%s", strings.Join(got, "\n"))
	}
	if got := lines(ok(t, dir, "record", "list", "--search", "se-12")); len(got) != 1 || !strings.HasPrefix(got[0], third) {
		t.Errorf("record list --search:\n%s", strings.Join(got, "\n"))
	}

	// delete, list --deleted, restore
	ok(t, dir, "record", "delete", id)
	if out := ok(t, dir, "record", "list"); strings.Contains(out, id) {
		t.Errorf("a deleted record is listed:\n%s", out)
	}
	out = ok(t, dir, "record", "list", "--deleted")
	if got := lines(out); len(got) != 1 || !strings.HasPrefix(got[0], id) || !strings.HasSuffix(got[0], "\tdeleted") {
		t.Errorf("record list --deleted:\n%s", out)
	}
	var listed []summaryJSON
	if err := json.Unmarshal([]byte(ok(t, dir, "record", "list", "--all", "--json")), &listed); err != nil || len(listed) != 3 {
		t.Errorf("record list --all --json: %d records (%v)", len(listed), err)
	}
	fails(t, cli(t, dir, "record", "edit", id, "--json", `{"workers_on_site": 3}`), 1, "deleted", "restore it first")
	ok(t, dir, "record", "restore", id)
	if s := show(t, dir, id); s.Deleted || s.Status != "submitted" || s.Values["workers_on_site"].Display != "12" {
		t.Errorf("after restore: %+v", s)
	}
	if out := ok(t, dir, "record", "list", "--deleted"); out != "" {
		t.Errorf("record list --deleted after restore:\n%s", out)
	}

	// export
	zipPath := filepath.Join(files, "export.zip")
	if out := ok(t, dir, "export", "--out", zipPath); out != "" {
		t.Errorf("export printed %q", out)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	read := func(name string) []byte {
		f, err := zr.Open(name)
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var recs []form.Record
	if err := json.Unmarshal(read("records.json"), &recs); err != nil {
		t.Fatalf("records.json: %v", err)
	}
	i := slices.IndexFunc(recs, func(r form.Record) bool { return r.ID == id })
	if len(recs) != 3 || i < 0 || string(recs[i].Value("site_code")) != `"NW-0412"` {
		t.Errorf("records.json: %d records, ours at %d", len(recs), i)
	}
	if got := read("attachments/" + photoSHA); !bytes.Equal(got, jpg) {
		t.Errorf("exported photo: %d bytes, want %d", len(got), len(jpg))
	}
	var sigAtt form.Attachment
	if err := json.Unmarshal(recs[i].Value("inspector_signature"), &sigAtt); err != nil || !bytes.Equal(read("attachments/"+sigAtt.SHA256), sig) {
		t.Errorf("exported signature: %v", err)
	}
	if len(read("audit.jsonl")) == 0 {
		t.Error("export: empty audit trail")
	}
	if tmp, _ := filepath.Glob(filepath.Join(files, ".export.zip.*")); len(tmp) > 0 {
		t.Errorf("export left temporary files: %v", tmp)
	}

	// verify
	out = ok(t, dir, "verify")
	for _, w := range []string{"records        3", "chain intact", "result         ok"} {
		if !strings.Contains(out, w) {
			t.Errorf("verify lacks %q:\n%s", w, out)
		}
	}
}

// TestCLIBadInput checks that every kind of bad input fails with one line that
// names the problem, and changes nothing.
func TestCLIBadInput(t *testing.T) {
	t.Parallel()
	// The cases run in shards, each on its own replica holding one record with the
	// same ID, so the slow race-detecting binary runs a few at a time.
	const shards = 4
	var dirs [shards]string
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	id := strings.TrimSpace(ok(t, dirs[0], "record", "new", "--template", "site-inspection", "--json", siteInspection))
	for _, dir := range dirs[1:] {
		// Copy the record under the same ID with the same template, the way a pull would.
		setupRecord(t, dirs[0], dir, id)
	}
	files := t.TempDir()
	writeImage(t, filepath.Join(files, "photo.jpg"), encodeJPEG)
	if err := os.WriteFile(filepath.Join(files, "notes.txt"), []byte("plain text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	photo, notes := filepath.Join(files, "photo.jpg"), filepath.Join(files, "notes.txt")
	absent := form.NewID()
	var before [shards]replicaState
	for i, dir := range dirs {
		before[i] = snapshot(t, dir)
	}

	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"invalid JSON", []string{"record", "new", "--template", "site-inspection", "--json", `{"site_code": `}, 1, []string{"--json", "invalid JSON"}},
		{"JSON syntax", []string{"record", "new", "--template", "site-inspection", "--json", `{"site_code" "x"}`}, 1, []string{"--json", "invalid JSON at byte"}},
		{"JSON not an object", []string{"record", "new", "--template", "site-inspection", "--json", `["NW-0412"]`}, 1, []string{"--json", "JSON object"}},
		{"JSON trailing data", []string{"record", "new", "--template", "site-inspection", "--json", `{} {}`}, 1, []string{"--json", "after the object"}},
		{"JSON duplicate field", []string{"record", "edit", id, "--json", `{"inspector": "A B", "inspector": "C D"}`}, 1, []string{`"inspector"`, "twice"}},
		{"unknown field", []string{"record", "new", "--template", "site-inspection", "--json", `{"site_cod": "NW-0412"}`}, 1, []string{`field "site_cod"`, "rule unknown"}},
		{"failing pattern", []string{"record", "new", "--template", "site-inspection", "--json", `{"site_code": "nw-412"}`}, 1, []string{`field "site_code"`, "rule pattern"}},
		{"out of range", []string{"record", "edit", id, "--json", `{"workers_on_site": 501}`}, 1, []string{`field "workers_on_site"`, "rule max"}},
		{"wrong type", []string{"record", "edit", id, "--json", `{"hazards_present": "yes"}`}, 1, []string{`field "hazards_present"`, "rule type"}},
		{"system field", []string{"record", "edit", id, "--json", `{"_deleted": true}`}, 1, []string{`field "_deleted"`}},
		{"submit incomplete", []string{"record", "new", "--template", "site-inspection", "--json", `{"site_code": "NW-0412"}`, "--submit"}, 1, []string{"cannot submit", `"inspector_signature"`, "required"}},
		{"unknown template", []string{"record", "new", "--template", "no-such-form", "--json", `{}`}, 1, []string{`unknown template "no-such-form"`}},
		{"unknown template version", []string{"record", "new", "--template", "site-inspection@9", "--json", `{}`}, 1, []string{"site-inspection@9"}},
		{"bad template version", []string{"record", "new", "--template", "site-inspection@x", "--json", `{}`}, 1, []string{"--template", `"x"`}},
		{"unknown record: show", []string{"record", "show", absent}, 1, []string{"no record " + absent}},
		{"unknown record: edit", []string{"record", "edit", absent, "--json", `{}`}, 1, []string{"no record " + absent}},
		{"unknown record: delete", []string{"record", "delete", absent}, 1, []string{"no record " + absent}},
		{"unknown record: restore", []string{"record", "restore", absent}, 1, []string{"no record " + absent}},
		{"unknown record: attach", []string{"attach", absent, "hazard_photos", photo}, 1, []string{"no record " + absent}},
		{"not a record ID", []string{"record", "show", "12345"}, 1, []string{`"12345" is not a record ID`}},
		{"attach: unknown field", []string{"attach", id, "photos", photo}, 1, []string{`no field "photos"`}},
		{"attach: wrong field type", []string{"attach", id, "inspector", photo}, 1, []string{`field "inspector" is a text field`}},
		{"attach: missing file", []string{"attach", id, "hazard_photos", filepath.Join(files, "missing.jpg")}, 1, []string{"missing.jpg", "no such file"}},
		{"attach: a folder", []string{"attach", id, "hazard_photos", files}, 1, []string{"not a regular file"}},
		{"attach: not an image", []string{"attach", id, "hazard_photos", notes}, 1, []string{`field "hazard_photos"`, "not an image"}},
		{"attach: signature not PNG", []string{"attach", id, "inspector_signature", photo}, 1, []string{`field "inspector_signature"`, "image/png"}},
		{"export: into a folder", []string{"export", "--out", files}, 1, []string{"is a folder"}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{"unknown subcommand", []string{"record", "frobnicate"}, 2, []string{`unknown subcommand "frobnicate"`}},
		{"missing subcommand", []string{"record"}, 2, []string{"missing subcommand"}},
		{"missing ID", []string{"record", "edit", "--json", "{}"}, 2, []string{"record edit", "missing ID"}},
		{"missing FIELD FILE", []string{"attach", id}, 2, []string{"attach", "missing FIELD FILE"}},
		{"extra argument", []string{"record", "show", id, "more"}, 2, []string{`unexpected argument "more"`}},
		{"missing --template", []string{"record", "new", "--json", "{}"}, 2, []string{"--template is required"}},
		{"missing --json", []string{"record", "new", "--template", "site-inspection"}, 2, []string{"--json is required"}},
		{"nothing to edit", []string{"record", "edit", id}, 2, []string{"nothing to change"}},
		{"missing --out", []string{"export"}, 2, []string{"--out is required"}},
		{"unknown flag", []string{"record", "list", "--colour"}, 2, []string{"-colour"}},
		{"flag without value", []string{"record", "new", "--template"}, 2, []string{"-template"}},
		{"exclusive flags", []string{"record", "list", "--deleted", "--all"}, 2, []string{"--deleted and --all"}},
		{"bad status", []string{"record", "list", "--status", "done"}, 2, []string{`--status "done"`}},
		{"bad limit", []string{"record", "list", "--limit", "-1"}, 2, []string{"--limit"}},
	}
	for shard, dir := range dirs {
		t.Run(fmt.Sprint("shard", shard), func(t *testing.T) {
			t.Parallel()
			for i, tc := range tests {
				if i%shards != shard {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					fails(t, cli(t, dir, tc.args...), tc.code, tc.want...)
				})
			}
			if after := snapshot(t, dir); after != before[shard] {
				t.Errorf("bad input changed the replica: %+v → %+v", before[shard], after)
			}
		})
	}
}

// setupRecord copies record id from the replica in from to the one in to, as a
// pull would.
func setupRecord(t *testing.T, from, to, id string) {
	t.Helper()
	ctx := context.Background()
	src, err := store.Open(ctx, from, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.Get(ctx, id)
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	ok(t, to, "templates") // makes the replica, with the sample templates
	dst, err := store.Open(ctx, to, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	res, err := dst.ApplyRecords(ctx, []form.Record{r}, "test")
	if err != nil || res[0].Status != store.Applied {
		t.Fatalf("apply: %+v, %v", res, err)
	}
}

// TestCLIHelp checks --help on the program, a group and a command: usage on
// standard output, exit status 0.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"fieldforms [--data DIR] COMMAND", "record new", "templates", "verify", "repair", "export", "attach"}},
		{[]string{"help"}, []string{"record list"}},
		{[]string{"record", "--help"}, []string{"fieldforms record new --template ID[@VERSION]", "fieldforms record show ID"}},
		{[]string{"record", "new", "--help"}, []string{"usage: fieldforms [--data DIR] record new --template", "-submit", "-author"}},
		{[]string{"help", "attach"}, []string{"usage: fieldforms [--data DIR] attach ID FIELD FILE"}},
		{[]string{"record", "list", "-h"}, []string{"--deleted|--all", "-search"}},
		{[]string{"verify", "--help"}, []string{"audit"}},
		{[]string{"repair", "--help"}, []string{"usage: fieldforms [--data DIR] repair [--json]", "journal.log.damaged-", "-json"}},
	}
	for _, tc := range tests {
		out := mustSucceed(t, cli(t, dir, tc.args...), tc.args)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("fieldforms %s: no %q in\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, store.DBFile)); err == nil {
		t.Error("--help opened the replica")
	}
}

// TestCLIReplicaInUse checks that a command gives up on a replica another
// process holds, with one clear line.
func TestCLIReplicaInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	r := cli(t, dir, "record", "list")
	fails(t, r, 1)
	if want := "fieldforms: replica in use by another process (is the app open?)\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// TestCLIDefaultDataDir checks that without --data a command uses the folder
// the app uses: Fyne's storage root for the app's ID.
func TestCLIDefaultDataDir(t *testing.T) {
	// Fyne's storage root, from a child process: the app watches its folder and
	// makes it again when it goes, for as long as the process lives.
	config := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	// (Builds tagged ci or mobile keep it under the temporary folder.)
	child.Env = append(os.Environ(), fyneRootEnv+"=1", "XDG_CONFIG_HOME="+config, "TMPDIR="+config, "GORACE=atexit_sleep_ms=0")
	out, err := child.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	want := string(out)
	t.Setenv("XDG_CONFIG_HOME", config)
	t.Setenv("TMPDIR", config)
	got, err := defaultDataDir()
	if err != nil || got != want {
		t.Fatalf("defaultDataDir() = %q, %v; Fyne's storage root is %q", got, err, want)
	}
	if fyneTestStorage {
		return // the binary under test is built without this build's tags
	}

	// The binary, without --data, uses that folder.
	env := append(headlessEnv(t), "XDG_CONFIG_HOME="+config) // the later value wins
	mustSucceed(t, runIn(t, env, "", "templates"), nil)
	if _, err := os.Stat(filepath.Join(want, store.DBFile)); err != nil {
		t.Errorf("no replica in the app's folder: %v", err)
	}
}

// TestCLIDropsFyneInitNoise checks that the environment the tests run commands
// in makes Fyne complain while it initialises, and that commands drop it.
func TestCLIDropsFyneInitNoise(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runIn(t, headlessEnv(t, "FIELDFORMS_INIT_STDERR=pass"), "", "--data", dir, "templates")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Fyne error") {
		t.Skipf("Fyne did not complain about the C locale here (stderr %q); nothing to drop", r.stderr)
	}
	ok(t, dir, "templates") // fails on any standard error
}

func TestDropFyneInitNoise(t *testing.T) {
	in := "2026/01/02 10:00:00 Fyne error:  Error parsing user locale C\n" +
		"2026/01/02 10:00:00   Cause: language: tag is not well-formed\n" +
		"2026/01/02 10:00:00   At: /go/pkg/mod/fyne.io/fyne/v2@v2.7.1/lang/locale.go:35\n" +
		"something else\n" +
		"2026/01/02 10:00:00 Fyne error:  Failed to load user locales\n" +
		"  At: x.go:1\n" +
		"text\n" +
		"  At: kept, no Fyne error before it"
	want := "something else\ntext\n  At: kept, no Fyne error before it"
	if got := string(dropFyneInitNoise([]byte(in))); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
