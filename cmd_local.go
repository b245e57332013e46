package main

// Commands on the replica as a whole, or on files: attach, export, verify.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
)

func init() {
	registerCommand(&cliCommand{
		name:    "attach",
		args:    "ID FIELD FILE [--author NAME]",
		summary: "attach a file to a record's photo, file or signature field; prints its SHA-256",
		help: `Adds FILE to the field's list of photos or files, or makes it the signature
(which must be a PNG image). The media type comes from the file name's extension,
else from the content. Attaching a file the field already holds changes nothing.`,
		minArgs: 3, maxArgs: 3,
		setup: func(fs *flag.FlagSet) cliRun {
			author := fs.String("author", "", "who attaches it (default: the enrolled user, else the system's user)")
			return func(e *cliEnv, args []string) error { return attachFile(e, args[0], args[1], args[2], *author) }
		},
	})
	registerCommand(&cliCommand{
		name:    "export",
		args:    "--out FILE.zip",
		summary: "write everything the replica holds to one ZIP",
		help: `The ZIP holds records.json (every record, deleted ones included, with its
stamps), one CSV a template, the templates, the audit trail (audit.jsonl) and
the attachments whose bytes are on this device. The file appears complete or not
at all: it is written beside FILE.zip, flushed to disk, then renamed.
--out - writes the ZIP to standard output.`,
		setup: func(fs *flag.FlagSet) cliRun {
			out := fs.String("out", "", "the ZIP `file` to write, or - for standard output")
			return func(e *cliEnv, _ []string) error { return exportZIP(e, *out) }
		},
	})
	registerCommand(&cliCommand{
		name:    "verify",
		summary: "check the audit chain and the database's consistency",
		help: `Prints a short report. Exits with status 1 when it finds a problem: an
altered, inserted or missing audit entry, a damaged database page, or records
that disagree with their indexes; or, as every command, when the journal is
damaged in a way that may have lost saves (then run 'fieldforms repair'). Journal
damage that lost nothing is reported on a line of its own.`,
		setup: func(fs *flag.FlagSet) cliRun {
			return func(e *cliEnv, _ []string) error { return verifyReplica(e) }
		},
	})
}

func attachFile(e *cliEnv, id, field, path, authorFlag string) error {
	cur, err := getRecord(e, id)
	if err != nil {
		return err
	}
	if cur.Deleted() {
		return fmt.Errorf("record %s is deleted; restore it first", id)
	}
	t, err := findTemplate(e.st, form.TemplateKey{ID: cur.Template, Version: cur.Version})
	if err != nil {
		return err
	}
	f, ok := t.Field(field)
	if !ok {
		return fmt.Errorf("template %s has no field %q", t.Key(), field)
	}
	switch f.Type {
	case form.TypePhoto, form.TypeFile, form.TypeSignature, form.TypeAudio, form.TypeVideo:
	default:
		return fmt.Errorf("field %q is a %s field; files attach to photo, file, audio, video and signature fields", field, f.Type)
	}
	author, err := e.author(authorFlag)
	if err != nil {
		return err
	}

	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("attach: %s is not a regular file", path)
	}
	if info.Size() > store.MaxAttachmentBytes {
		return fmt.Errorf("attach: %s is %d bytes, over the limit of %d", path, info.Size(), store.MaxAttachmentBytes)
	}
	// Hash and sniff first, so the new value is checked before any bytes are
	// stored: a refused attachment leaves nothing behind.
	h := sha256.New()
	head := make([]byte, 512)
	n, err := io.ReadFull(file, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("attach: read %s: %w", path, err)
	}
	head = head[:n]
	h.Write(head)
	size, err := io.Copy(h, file)
	if err != nil {
		return fmt.Errorf("attach: read %s: %w", path, err)
	}
	a := form.Attachment{
		SHA256: hex.EncodeToString(h.Sum(nil)),
		Size:   int64(n) + size,
		Type:   mediaType(path, head),
		Name:   attachmentName(path),
	}

	value, already, err := withAttachment(f, cur.Value(field), a)
	if err != nil {
		return err
	}
	if already {
		fmt.Fprintln(e.stdout, a.SHA256)
		return nil
	}
	if _, err := t.Check(form.Values{field: value}); err != nil {
		return err
	}

	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	stored, err := e.st.PutAttachment(e.ctx, file, a.Type, a.Name)
	if err != nil {
		return err
	}
	if stored.SHA256 != a.SHA256 || stored.Size != a.Size {
		return fmt.Errorf("attach: %s changed while it was read; try again", path)
	}
	if _, err := e.st.Save(e.ctx, store.Edit{Record: id, Values: form.Values{field: value}, Author: author}); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, a.SHA256)
	return nil
}

// withAttachment returns a field's value with a added: appended to a photo or
// file list, or as the signature. already reports that the field holds it.
func withAttachment(f *form.Field, cur json.RawMessage, a form.Attachment) (value json.RawMessage, already bool, err error) {
	if f.Type == form.TypeSignature {
		var old form.Attachment
		if !form.IsEmpty(cur) && json.Unmarshal(cur, &old) == nil && old.SHA256 == a.SHA256 {
			return nil, true, nil
		}
		value, err = json.Marshal(a)
		return value, false, err
	}
	var list []form.Attachment
	if !form.IsEmpty(cur) {
		if err := json.Unmarshal(cur, &list); err != nil {
			return nil, false, fmt.Errorf("field %q holds %s, not a list of attachments", f.ID, cur)
		}
	}
	if slices.ContainsFunc(list, func(x form.Attachment) bool { return x.SHA256 == a.SHA256 }) {
		return nil, true, nil
	}
	if f.MaxFiles == 1 {
		list = nil // a question of one file (as ODK's) takes the new one instead
	}
	value, err = json.Marshal(append(list, a))
	return value, false, err
}

// mediaType is a file's media type, from its name's extension, else its first
// bytes; without parameters.
func mediaType(path string, head []byte) string {
	t := mime.TypeByExtension(strings.ToLower(filepath.Ext(path)))
	if t == "" {
		t = http.DetectContentType(head)
	}
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt
	}
	return "application/octet-stream"
}

// attachmentName is the file's name as an attachment keeps it: no slashes, at
// most 255 bytes.
func attachmentName(path string) string {
	name := strings.NewReplacer("\\", "_", "\x00", "_").Replace(filepath.Base(path))
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

func exportZIP(e *cliEnv, out string) (err error) {
	if out == "" {
		return cliUsagef("--out is required")
	}
	if out == "-" {
		return e.st.Export(e.ctx, e.stdout)
	}
	dir, base := filepath.Split(out)
	if dir == "" {
		dir = "."
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return fmt.Errorf("export: %s is a folder", out)
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := e.st.Export(e.ctx, f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot open a folder for it,
// and makes renames durable itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("export: sync %s: %w", dir, err)
	}
	return nil
}

func verifyReplica(e *cliEnv) error {
	rep, err := e.st.Verify(e.ctx)
	if err != nil {
		return err
	}
	problems := rep.Problems
	chain := "intact"
	n, err := e.st.VerifyAudit(e.ctx)
	var ap *store.AuditProblem
	switch {
	case errors.As(err, &ap):
		chain = fmt.Sprintf("broken at entry %d (%s)", ap.Seq, ap.What)
		if !slices.Contains(problems, ap.Error()) {
			problems = append(problems, ap.Error())
		}
	case err != nil:
		return err
	default:
		rep.AuditEntries = n
	}
	fmt.Fprintf(e.stdout, "replica        %s\n", e.st.Dir())
	fmt.Fprintf(e.stdout, "device         %s\n", e.st.Device())
	fmt.Fprintf(e.stdout, "records        %d\n", rep.Records)
	fmt.Fprintf(e.stdout, "audit entries  %d, chain %s\n", rep.AuditEntries, chain)
	if n := e.st.JournalNotice(); n != "" {
		fmt.Fprintf(e.stdout, "journal        %s\n", oneLine(n))
	}
	// What this device witnessed of the server's trail: reported, not a problem of
	// this replica.
	if _, cerr := ffsync.LoadCredential(e.ctx, e.st); cerr == nil {
		if w, werr := ffsync.AuditWitness(e.ctx, e.st); werr == nil {
			fmt.Fprintf(e.stdout, "server audit   %s\n", oneLine(w.Line()))
		}
	}
	if len(problems) == 0 {
		fmt.Fprintln(e.stdout, "result         ok")
		return nil
	}
	fmt.Fprintf(e.stdout, "result         %d problem(s)\n", len(problems))
	for _, p := range problems {
		fmt.Fprintf(e.stdout, "problem        %s\n", oneLine(p))
	}
	return fmt.Errorf("verify: %d problem(s) in %s; the first: %s", len(problems), e.st.Dir(), oneLine(problems[0]))
}
