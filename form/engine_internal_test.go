package form

import (
	"encoding/json"
	"strings"
	"testing"
)

// spaceSeparated reads what json.Unmarshal would, or declines.
func TestSpaceSeparated(t *testing.T) {
	for _, raw := range []string{`[]`, `["a"]`, `["a","b"]`, `["a", "b"]`, `["a\"b"]`, `["a b"]`, `[1]`, `["a",]`, `["a"`, `"a"`, `["é","ü"]`, `[""]`} {
		got, ok := spaceSeparated(json.RawMessage(raw))
		var list []string
		err := json.Unmarshal([]byte(raw), &list)
		switch {
		case ok && err != nil:
			t.Errorf("%s: read %q, but it is not a list of strings", raw, got)
		case ok && got != strings.Join(list, " "):
			t.Errorf("%s: read %q, want %q", raw, got, strings.Join(list, " "))
		}
	}
}
