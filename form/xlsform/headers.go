package xlsform

import (
	"strings"
)

// column is one parsed header of a sheet.
type column struct {
	idx  int    // 0-based column index
	raw  string // the header as written (trimmed)
	base string // the column's meaning: "label", "relevant", "media:image", ...; "" unknown
	lang string // the language of a translatable column; "" the untranslated one
	attr string // bind::X, body::X, instance::X: X
}

// translatable columns take a language after "::".
var translatable = map[string]bool{
	"label": true, "hint": true, "guidance_hint": true, "constraint_message": true, "required_message": true,
	"media:image": true, "media:big-image": true, "media:audio": true, "media:video": true,
}

// surveyAliases maps a survey header's first part (in snake case) to its meaning,
// as pyxform's aliases do.
var surveyAliases = map[string]string{
	"type": "type", "command": "type",
	"name": "name", "tag": "name", "value": "name",
	"label": "label", "caption": "label",
	"hint": "hint", "guidance_hint": "guidance_hint",
	"required": "required", "required_message": "required_message", "requiredmsg": "required_message", "jr:requiredmsg": "required_message",
	"constraint": "constraint", "constraint_message": "constraint_message", "constraining_message": "constraint_message", "jr:constraintmsg": "constraint_message",
	"relevant": "relevant", "relevance": "relevant",
	"calculation": "calculation", "calculate": "calculation",
	"readonly": "readonly", "read_only": "readonly",
	"default":       "default",
	"appearance":    "appearance",
	"choice_filter": "choice_filter",
	"parameters":    "parameters",
	"repeat_count":  "repeat_count", "count": "repeat_count", "jr:count": "repeat_count",
	"trigger": "trigger",
	"image":   "media:image", "big-image": "media:big-image", "audio": "media:audio", "video": "media:video",
	"media":    "media",
	"disabled": "disabled",
	"bind":     "bind", "body": "body", "instance": "instance", "control": "body",
	// Known to pyxform, not carried over: reported per row when set.
	"autoplay": "x:autoplay", "rows": "x:rows", "intent": "x:intent", "save_to": "x:save_to",
	"noapperrorstring": "x:noapperrorstring", "no_app_error_string": "x:noapperrorstring",
	"sms_field": "x:sms_field", "sms_option": "x:sms_option", "sms_separator": "x:sms_separator",
	"sms_allow_media": "x:sms_allow_media", "sms_date_format": "x:sms_date_format",
	"sms_datetime_format": "x:sms_datetime_format", "sms_response": "x:sms_response",
	"compact_tag": "x:compact_tag", "flat": "x:flat",
}

// choicesAliases maps a choices header's first part to its meaning; other columns
// are the options' own (read by choice filters).
var choicesAliases = map[string]string{
	"list_name": "list_name", "name": "name", "value": "name", "label": "label", "caption": "label",
	"image": "media:image", "big-image": "media:big-image", "audio": "media:audio", "video": "media:video",
	"media": "media",
}

// snake turns a header into snake case as pyxform does: runs of white space become
// one '_', letters lower case.
func snake(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), "_"))
}

// parseHeaders reads a sheet's header row. doubleColon is whether any header uses
// "::" (then ':' alone does not split, as in pyxform). Duplicate headers are
// reported through dup (the column that repeats an earlier one).
func parseHeaders(row []string, aliases map[string]string) (cols []column, dups []column) {
	double := false
	for _, h := range row {
		if strings.Contains(h, "::") {
			double = true
		}
	}
	seen := map[string]bool{}
	for i, h := range row {
		h = strings.Join(strings.Fields(h), " ")
		if h == "" {
			continue
		}
		c := parseHeader(h, double, aliases)
		c.idx = i
		k := c.base + "\x00" + c.lang + "\x00" + c.attr
		if c.base == "" {
			k = "?" + c.raw
		}
		if seen[k] {
			dups = append(dups, c)
			continue
		}
		seen[k] = true
		cols = append(cols, c)
	}
	return cols, dups
}

func parseHeader(h string, double bool, aliases map[string]string) column {
	c := column{raw: h}
	// A header that is a known column as a whole (jr:count, big-image) needs no split.
	if b, ok := aliases[snake(h)]; ok && b != "media" && b != "bind" && b != "body" && b != "instance" {
		c.base = b
		return c
	}
	var parts []string
	if double || strings.Contains(h, "::") {
		parts = strings.Split(h, "::")
	} else {
		parts = strings.Split(h, ":")
		// jr:count, jr:constraintMsg written with single colons stay whole.
		for i := 0; i+1 < len(parts); i++ {
			if strings.TrimSpace(parts[i]) == "jr" {
				parts = append(parts[:i:i], append([]string{"jr:" + parts[i+1]}, parts[i+2:]...)...)
			}
		}
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	first := snake(parts[0])
	base, ok := aliases[first]
	if !ok {
		return c // unknown: kept as written
	}
	rest := parts[1:]
	switch base {
	case "media":
		if len(rest) == 0 {
			return column{raw: h}
		}
		kind, ok := aliases[snake(rest[0])]
		if !ok || !strings.HasPrefix(kind, "media:") {
			return column{raw: h}
		}
		base, rest = kind, rest[1:]
	case "bind", "body", "instance":
		if len(rest) == 0 {
			return column{raw: h}
		}
		c.base, c.attr = base, strings.Join(rest, ":")
		// bind::relevant and the like are the plain columns.
		if base == "bind" {
			switch strings.ToLower(c.attr) {
			case "relevant", "constraint", "required", "readonly", "calculate":
				c.base, c.attr = aliases[strings.ToLower(c.attr)], ""
			case "jr:constraintmsg":
				c.base, c.attr = "constraint_message", ""
			case "jr:requiredmsg":
				c.base, c.attr = "required_message", ""
			}
		} else if base == "body" && strings.EqualFold(c.attr, "appearance") {
			c.base, c.attr = "appearance", ""
		}
		return c
	}
	c.base = base
	if translatable[base] {
		if len(rest) > 0 {
			c.lang = strings.Join(rest, "::")
		}
	} else if len(rest) > 0 {
		// "relevant::English" means nothing: an unknown column.
		return column{raw: h}
	}
	return c
}
