package form

import (
	"slices"
	"strings"
	"testing"
)

// ValidKey's path for a top-level name says what ParseKey says of every key.
func TestValidKeyAgreesWithParseKey(t *testing.T) {
	keys := []string{"", "a", "_a", "A1", "1a", "a-b.c", "a b", "é", "a\xff", "-a", "a/b", "a[1]", "a[]",
		"a[0]", "a[12345]", "a/b[1]/c", "/a", "a/", "a[1", "a]", strings.Repeat("a", maxNameLength),
		strings.Repeat("a", maxNameLength+1), strings.Repeat("a", maxKeyLength+1), FieldStatus, FieldDeleted,
		"a\u0301", "\u0301a", "a[0192f3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b]"}
	for _, k := range keys {
		_, parsed := ParseKey(k)
		want := parsed || IsSystemField(k)
		if got := ValidKey(k); got != want {
			t.Errorf("ValidKey(%q) = %v, ParseKey says %v", k, got, want)
		}
	}
}

// HoldsValue says what valueTypes says, for every type.
func TestHoldsValueIsValueTypes(t *testing.T) {
	types := append(slices.Clone(valueTypes), TypeNote, TypeGroup, TypeRepeat, "", "nonsense")
	for _, ty := range types {
		f := &Field{Type: ty}
		if got, want := f.HoldsValue(), slices.Contains(valueTypes, ty); got != want {
			t.Errorf("HoldsValue of %q = %v, want %v", ty, got, want)
		}
	}
}
