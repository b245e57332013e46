package xlsform

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fieldforms/fieldforms/form"
)

// Sheets, in the order the report lists them.
const (
	sheetWorkbook = iota
	sheetSettings
	sheetSurvey
	sheetChoices
	sheetOther
)

var sheetNames = [...]string{"workbook", "settings", "survey", "choices", ""}

// rowKey names a place in the workbook: a sheet, a 1-based row (0: the sheet as a
// whole) and optionally a column.
type rowKey struct {
	sheet int
	row   int
	col   string
}

func (k rowKey) String() string {
	name := sheetNames[k.sheet]
	if k.sheet == sheetOther {
		name = k.col
		k.col = ""
	}
	var s string
	switch {
	case k.sheet == sheetWorkbook:
		s = "workbook"
	case k.row == 0:
		s = name + " sheet"
	default:
		s = fmt.Sprintf("%s row %d", name, k.row)
	}
	if k.col != "" {
		s += ", column " + k.col
	}
	return s
}

func compareKeys(a, b rowKey) int {
	if c := cmp.Compare(a.sheet, b.sheet); c != 0 {
		return c
	}
	return cmp.Compare(a.row, b.row)
}

// Row statuses of survey rows: the worst part of a row decides.
const (
	statusImported = iota
	statusApproximated
	statusDropped
)

func (c *converter) mark(k rowKey, status int) {
	if k.sheet == sheetSurvey && k.row > 0 && status > c.status[k.row] {
		c.status[k.row] = status
	}
}

func (c *converter) approx(k rowKey, what, how string) {
	c.rep.Approximated = append(c.rep.Approximated, Approximated{Row: k.String(), What: what, How: how, key: k})
	c.mark(k, statusApproximated)
}

func (c *converter) drop(k rowKey, what, why string) {
	c.rep.Dropped = append(c.rep.Dropped, Dropped{Row: k.String(), What: what, Why: why, key: k})
	c.mark(k, statusDropped)
}

func (c *converter) warn(k rowKey, msg string) {
	c.rep.Warnings = append(c.rep.Warnings, Warning{Row: k.String(), Message: msg, key: k})
}

// finishReport sorts the lists by row (stably: a row's entries keep their order)
// and counts the survey rows carried over exactly.
func (c *converter) finishReport() {
	slices.SortStableFunc(c.rep.Approximated, func(a, b Approximated) int { return compareKeys(a.key, b.key) })
	slices.SortStableFunc(c.rep.Dropped, func(a, b Dropped) int { return compareKeys(a.key, b.key) })
	slices.SortStableFunc(c.rep.Warnings, func(a, b Warning) int { return compareKeys(a.key, b.key) })
	c.rep.Warnings = slices.CompactFunc(c.rep.Warnings, func(a, b Warning) bool { return a.Row == b.Row && a.Message == b.Message })
	if c.rep.Approximated == nil {
		c.rep.Approximated = []Approximated{}
	}
	if c.rep.Dropped == nil {
		c.rep.Dropped = []Dropped{}
	}
	if c.rep.Warnings == nil {
		c.rep.Warnings = []Warning{}
	}
	c.rep.rows = len(c.typedRows)
	c.rep.Imported = 0
	for _, r := range c.typedRows {
		if c.status[r] == statusImported {
			c.rep.Imported++
		}
	}
}

// Rows is the number of survey rows with a type: each is imported exactly,
// approximated or dropped.
func (r *Report) Rows() int { return r.rows }

// Clean reports whether nothing of the form was dropped.
func (r *Report) Clean() bool { return len(r.Dropped) == 0 }

// Text is the report as a person reads it: what was imported, then what was
// approximated, dropped, and warned about, each with its row.
func (r *Report) Text() string {
	var b strings.Builder
	if t := r.Template; t != nil {
		fmt.Fprintf(&b, "Imported %q as template %s", t.Name, t.ID)
		if t.VersionLabel != "" {
			fmt.Fprintf(&b, ", version %s", t.VersionLabel)
		}
		b.WriteString(".\n")
		q, g, rp := countFields(t.Fields)
		fmt.Fprintf(&b, "%s, %s, %s", plural(q, "question"), plural(g, "group"), plural(rp, "repeat"))
		if len(t.Choices) > 0 {
			fmt.Fprintf(&b, ", %s of choices", plural(len(t.Choices), "list"))
		}
		b.WriteString(".\n")
		if len(t.Languages) > 0 {
			fmt.Fprintf(&b, "Languages: %s", strings.Join(t.Languages, ", "))
			if t.DefaultLanguage != "" {
				fmt.Fprintf(&b, " (default %s)", t.DefaultLanguage)
			}
			b.WriteString(".\n")
		}
	}
	if r.rows > 0 {
		fmt.Fprintf(&b, "Survey rows: %d, %d carried over exactly", r.rows, r.Imported)
		if n := r.rows - r.Imported; n > 0 {
			fmt.Fprintf(&b, ", %d with something approximated or dropped", n)
		}
	} else {
		fmt.Fprintf(&b, "Carried over exactly: %d", r.Imported)
	}
	b.WriteString(".\n")
	if len(r.Approximated) > 0 {
		fmt.Fprintf(&b, "\nApproximated (%d):\n", len(r.Approximated))
		for _, a := range r.Approximated {
			fmt.Fprintf(&b, "  %s: %s: %s\n", a.Row, a.What, a.How)
		}
	}
	if len(r.Dropped) > 0 {
		fmt.Fprintf(&b, "\nDropped (%d):\n", len(r.Dropped))
		for _, d := range r.Dropped {
			fmt.Fprintf(&b, "  %s: %s: %s\n", d.Row, d.What, d.Why)
		}
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintf(&b, "\nWarnings (%d):\n", len(r.Warnings))
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "  %s: %s\n", w.Row, w.Message)
		}
	}
	return b.String()
}

// quote quotes a cell for the report, shortened when long.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		return strconv.Quote(s[:i]) + "…"
	}
	return strconv.Quote(s)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// countFields counts questions (fields that are not groups or repeats), groups and
// repeats, at every depth.
func countFields(fields []form.Field) (questions, groups, repeats int) {
	for i := range fields {
		switch fields[i].Type {
		case form.TypeGroup:
			groups++
		case form.TypeRepeat:
			repeats++
		default:
			questions++
		}
		q, g, r := countFields(fields[i].Fields)
		questions, groups, repeats = questions+q, groups+g, repeats+r
	}
	return
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
