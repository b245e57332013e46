package form

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Text is a label, hint or message in one or several languages. In JSON it is a
// string (the text in the form's default language) or an object of language name to
// text, where the empty name "" is the default language, as XLSForm's plain `label`
// column is beside `label::French (fr)`.
type Text struct {
	m map[string]string
}

// Plain returns a text in the default language only.
func Plain(s string) Text {
	if s == "" {
		return Text{}
	}
	return Text{m: map[string]string{"": s}}
}

// Texts returns a text from language names to texts; "" is the default language.
// Empty texts are left out.
func Texts(m map[string]string) Text {
	var t Text
	for lang, s := range m {
		t = t.With(lang, s)
	}
	return t
}

// With returns t with the text for lang set to s (removed when s is empty).
func (t Text) With(lang, s string) Text {
	m := make(map[string]string, len(t.m)+1)
	for k, v := range t.m {
		m[k] = v
	}
	if s == "" {
		delete(m, lang)
	} else {
		m[lang] = s
	}
	if len(m) == 0 {
		return Text{}
	}
	return Text{m: m}
}

// IsZero reports a text with no language.
func (t Text) IsZero() bool { return len(t.m) == 0 }

// String is the text in the default language, or else in the first language by
// name: what a reader sees when no language is chosen.
func (t Text) String() string {
	if s, ok := t.m[""]; ok {
		return s
	}
	for _, lang := range t.Languages() {
		return t.m[lang]
	}
	return ""
}

// In is the text in lang, falling back to the default language and then to the
// first language by name.
func (t Text) In(lang string) string {
	if s, ok := t.m[lang]; ok && lang != "" {
		return s
	}
	return t.String()
}

// Has reports whether t has a text of its own in lang.
func (t Text) Has(lang string) bool { _, ok := t.m[lang]; return ok }

// Languages lists the languages t has a text in, by name, the default ("") first.
func (t Text) Languages() []string {
	out := make([]string, 0, len(t.m))
	for lang := range t.m {
		out = append(out, lang)
	}
	slices.Sort(out)
	return out
}

// Blank reports whether every language's text is white space.
func (t Text) Blank() bool {
	for _, s := range t.m {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// MarshalJSON writes a string when t has the default language only, else an object.
func (t Text) MarshalJSON() ([]byte, error) {
	if len(t.m) == 0 {
		return []byte(`""`), nil
	}
	if s, ok := t.m[""]; ok && len(t.m) == 1 {
		return AppendString(nil, s), nil
	}
	return json.Marshal(t.m)
}

// UnmarshalJSON reads a string or an object of language names to strings.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Plain(s)
		return nil
	case len(b) > 0 && b[0] == '{':
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return errors.New("a text in several languages is an object of language names to strings")
		}
		*t = Texts(m)
		return nil
	case bytes.Equal(b, []byte("null")):
		*t = Text{}
		return nil
	}
	return errors.New("a text is a string, or an object of language names to strings")
}

// MatchLanguage picks, from a form's languages (named as XLSForm names them,
// "French (fr)"), the one a locale such as "fr_FR.UTF-8", "fr-CA" or "fr" asks
// for: by the code in parentheses, else by the name itself. It returns "" when
// none matches, and the form's default language should be shown.
func MatchLanguage(languages []string, locale string) string {
	locale = strings.ToLower(strings.TrimSpace(locale))
	if i := strings.IndexAny(locale, ".@"); i >= 0 {
		locale = locale[:i]
	}
	if locale == "" || locale == "c" || locale == "posix" {
		return ""
	}
	full := strings.ReplaceAll(locale, "_", "-")
	base, _, _ := strings.Cut(full, "-")
	best, bestScore := "", 0
	for _, l := range languages {
		code := ""
		if i, j := strings.LastIndexByte(l, '('), strings.LastIndexByte(l, ')'); i >= 0 && j > i {
			code = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(l[i+1:j])), "_", "-")
		}
		name := strings.ToLower(strings.TrimSpace(l))
		score := 0
		switch {
		case code != "" && code == full:
			score = 4
		case code != "" && code == base:
			score = 3
		case code != "" && strings.HasPrefix(code, base+"-"):
			score = 2
		case name == full || name == base:
			score = 1
		}
		if score > bestScore {
			best, bestScore = l, score
		}
	}
	return best
}
