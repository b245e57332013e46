package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
	"github.com/klauspost/compress/s2"
)

// TestRequestEncodings: the server lists what it reads in Accept-Encoding, reads s2
// and gzip bodies (an old client's gzip keeps working), answers in s2 when asked and
// in gzip to a client that asks for gzip only, and refuses an s2 body that inflates
// past the limit (413), one that is not s2 (400) and an encoding it does not read
// (415), taking nothing of them.
func TestRequestEncodings(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	push := func(n int) []byte {
		var changes []wire.PushChange
		for i := range n {
			changes = append(changes, wire.PushChange{Seq: uint64(i + 1), Change: d.change(form.NewID(), "Site "+strconv.Itoa(i), i%10)})
		}
		raw, _ := json.Marshal(wire.PushRequest{Changes: changes})
		return raw
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	bomb := append([]byte(`{"changes":[],"x":"`), bytes.Repeat([]byte("a"), wire.MaxBodyBytes+10)...)
	tests := []struct {
		name, enc, accept string
		body              []byte
		status            int
		code, answerEnc   string
	}{
		{"s2 client", "s2", "s2, gzip", s2.Encode(nil, push(50)), 200, "", "s2"},
		{"old client", "gzip", "gzip", gz(push(50)), 200, "", "gzip"},
		{"s2 refused by the client", "s2", "s2;q=0, gzip", s2.Encode(nil, push(50)), 200, "", "gzip"},
		{"plain", "", "", push(50), 200, "", ""},
		{"s2 bomb", "s2", "s2, gzip", s2.Encode(nil, append(bomb, `"}`...)), 413, wire.CodeTooLarge, ""},
		{"not s2", "s2", "s2, gzip", []byte("this is not an s2 block at all"), 400, wire.CodeBadRequest, ""},
		{"s2 cut short", "s2", "s2, gzip", s2.Encode(nil, push(50))[:100], 400, wire.CodeBadRequest, ""},
		{"unknown encoding", "br", "s2, gzip", push(50), 415, wire.CodeBadRequest, ""},
	}
	acked := uint64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.url+"/v1/push", bytes.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+d.token)
			if tt.enc != "" {
				req.Header.Set("Content-Encoding", tt.enc)
			}
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			resp, err := ts.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Accept-Encoding"); got != wire.RequestEncodings {
				t.Fatalf("Accept-Encoding answered %q, want %q", got, wire.RequestEncodings)
			}
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			switch got := resp.Header.Get("Content-Encoding"); {
			case resp.StatusCode == 200 && got != tt.answerEnc:
				t.Fatalf("answer in %q, want %q", got, tt.answerEnc)
			case got == "s2":
				if raw, err = s2.Decode(nil, raw); err != nil {
					t.Fatal(err)
				}
			case got == "gzip":
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				if raw, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, raw, tt.status)
			}
			if tt.status != 200 {
				var we wire.Error
				if err := json.Unmarshal(raw, &we); err != nil || we.Code != tt.code || strings.Contains(we.Message, "\n") {
					t.Fatalf("error %s, want one line with code %s", raw, tt.code)
				}
				return
			}
			var pr wire.PushResponse
			if err := json.Unmarshal(raw, &pr); err != nil {
				t.Fatal(err)
			}
			if len(pr.Results) != 50 || pr.Results[49].Status != wire.StatusApplied {
				t.Fatalf("results: %d, last %+v", len(pr.Results), pr.Results[len(pr.Results)-1])
			}
			acked = pr.Server.AckedThrough
		})
	}
	// Nothing of a refused body was taken: the ledger is where the last good push left it.
	var pr wire.PullResponse
	d.do(t, "GET", "/v1/pull", nil, &pr)
	if pr.Server.AckedThrough != acked || acked != 50 {
		t.Fatalf("acked through %d, want %d (50)", pr.Server.AckedThrough, acked)
	}
}
