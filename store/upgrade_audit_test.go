package store

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// TestConvertAuditValue: an entry of an earlier release is stored compressed by the
// conversion with its canonical bytes, and so its leaf, unchanged; an entry of the
// current layout is left as it is; finishUpgrade builds the tree over the entries.
func TestConvertAuditValue(t *testing.T) {
	legacy := AuditEntry{Seq: 1, Time: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), Actor: "ana", Device: "dev-old",
		Action: ActionCreate, Record: "01a23ca1-c620-7470-8ee5-57ba9763d2cb",
		Diff: []form.Diff{{Field: "notes", New: []byte(`"` + strings.Repeat("valve checked ", 20) + `"`)}}}
	legacy.seal()
	old := legacy.encode(nil)
	canon2, _ := encodeV2(2, legacy.Time, []AuditEntry{legacy})
	cur := storeAuditValue(canon2)
	got, err := convertAuditValue(2, u64(1), old)
	if err != nil || got[0] != auditS2 || len(got) >= len(old) {
		t.Fatalf("legacy entry converted to %d bytes (%v), from %d", len(got), err, len(old))
	}
	if c, err := auditCanonical(got); err != nil || !bytes.Equal(c, old) {
		t.Fatalf("canonical bytes changed: %v", err)
	}
	if got, err := convertAuditValue(2, u64(2), cur); err != nil || !bytes.Equal(got, cur) {
		t.Fatalf("current entry converted: %v", err)
	}

	db, err := bolt.Open(t.TempDir()+"/x.db", 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAudit} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		conv, _ := convertAuditValue(2, u64(1), old)
		if err := tx.Bucket(bucketAudit).Put(u64(1), conv); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAudit).Put(u64(2), cur); err != nil {
			return err
		}
		if err := finishUpgrade(tx, 2); err != nil {
			return err
		}
		if n := treeSize(tx); n != 2 {
			t.Fatalf("tree of %d leaves", n)
		}
		hs, err := treeReader{tx.Bucket(bucketAuditTree)}.ReadHashes([]int64{0})
		if err != nil || hs[0] != tlog.RecordHash(old) {
			t.Fatalf("leaf 0 %v %v", hs, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
