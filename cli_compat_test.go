package main

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// untar unpacks a .tgz into dir.
func untar(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Clean(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		}
	}
}

// A replica made by the release before templates held groups, repeats and
// expressions opens with this one: its records read, change and verify as before,
// and it takes an imported XLSForm with repeats beside its old templates.
func TestOpensReplicaOfPreviousRelease(t *testing.T) {
	dir := t.TempDir()
	untar(t, "testdata/replica-release-2026-11.tgz", dir)
	if out := ok(t, dir, "verify"); !strings.Contains(out, "ok") && !strings.Contains(out, "OK") {
		t.Fatalf("verify: %s", out)
	}
	list := lines(ok(t, dir, "record", "list", "--all"))
	if len(list) != 2 {
		t.Fatalf("record list --all: %q", list)
	}
	var deleted, live string
	for _, l := range list {
		id := strings.Fields(l)[0]
		if strings.HasSuffix(l, "deleted") {
			deleted = id
		} else {
			live = id
		}
	}
	if s := show(t, dir, deleted); s.Values["workers_on_site"].Display != "12" || s.Values["site_code"].Display != "NW-0412" {
		t.Errorf("the old site inspection reads %+v", s.Values)
	}
	ok(t, dir, "record", "restore", deleted)
	ok(t, dir, "record", "edit", deleted, "--json", `{"inspection_date": "2026-11-30"}`)
	ok(t, dir, "record", "edit", live, "--json", `{"items_expected": 40}`)

	form := writeXLSForm(t, t.TempDir(), "bridge.xlsx", inspectionXLSForm("1", ""))
	if out := ok(t, dir, "template", "import", form); !strings.Contains(out, "added as version 1") {
		t.Fatalf("template import: %s", out)
	}
	id := strings.TrimSpace(ok(t, dir, "record", "new", "--template", "bridge_inspection", "--json",
		`{"bridge": {"Bridge-ID": "B001"}, "defect": [{"what": "Rust", "severity": 2}]}`))
	if s := show(t, dir, id); s.Values["worst"].Display != "2" {
		t.Errorf("new record in the old replica: %+v", s.Values)
	}
	// The old templates, the imported one, and this release's new samples.
	got := ok(t, dir, "templates")
	for _, want := range []string{"site-inspection\t1\t", "delivery-receipt\t1\t", "bridge_inspection\t1\t", "household-survey\t1\t"} {
		if !strings.Contains(got, want) {
			t.Errorf("templates lack %q:\n%s", want, got)
		}
	}
	// The old replica has no purge notices yet: it reads as none purged.
	if out := ok(t, dir, "status", "--json"); !strings.Contains(out, `"purged": 0`) {
		t.Errorf("status of the old replica: %s", out)
	}
	if out := ok(t, dir, "verify"); !strings.Contains(out, "ok") && !strings.Contains(out, "OK") {
		t.Fatalf("verify after use: %s", out)
	}
}
