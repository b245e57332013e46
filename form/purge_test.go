package form_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// A purge notice verifies after a round trip through JSON, and any change to what it
// says, or another key or tenant, makes it fail with what is wrong.
func TestPurgeNoticeSignature(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	base := form.PurgeNotice{Tenant: "acme", Request: form.NewID(), Time: time.Now(), Records: []string{form.NewID(), form.NewID()}}
	base.Sign(key)
	raw, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	var back form.PurgeNotice
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Verify("acme", key); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(n *form.PurgeNotice)
		tenant string
		key    []byte
		want   string
	}{
		{"another key", func(n *form.PurgeNotice) {}, "acme", []byte("another key of thirty-two bytes!"), "does not verify"},
		{"another tenant", func(n *form.PurgeNotice) {}, "beta", key, `made for tenant "acme", not "beta"`},
		{"a record dropped", func(n *form.PurgeNotice) { n.Records = n.Records[:1] }, "acme", key, "does not verify"},
		{"a record swapped", func(n *form.PurgeNotice) { n.Records = []string{n.Records[1], n.Records[0]} }, "acme", key, "does not verify"},
		{"time moved", func(n *form.PurgeNotice) { n.Time = n.Time.Add(time.Second) }, "acme", key, "does not verify"},
		{"request changed", func(n *form.PurgeNotice) { n.Request = form.NewID() }, "acme", key, "does not verify"},
		{"signature not base64", func(n *form.PurgeNotice) { n.Sig = "%%%" }, "acme", key, "not base64"},
		{"no signature", func(n *form.PurgeNotice) { n.Sig = "" }, "acme", key, "not signed"},
		{"too many records", func(n *form.PurgeNotice) { n.Records = make([]string, form.MaxNoticeRecords+1) }, "acme", key, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := back
			n.Records = append([]string(nil), back.Records...)
			tc.edit(&n)
			err := n.Verify(tc.tenant, tc.key)
			if !errors.Is(err, form.ErrBadNotice) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrBadNotice and %q", err, tc.want)
			}
		})
	}
}
