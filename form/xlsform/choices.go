package xlsform

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/fieldforms/fieldforms/form"
)

// choiceList is one list of the choices sheet, or one loaded from a file.
type choiceList struct {
	name    string // the name the template gives it
	options []form.Option
	rows    []int // the choices sheet row of each option (0 for a file's)
	file    string
	tooBig  bool
}

const maxChoiceFileBytes = 32 << 20

// readChoices reads the choices sheet into lists.
func (c *converter) readChoices() error {
	c.lists = map[string]*choiceList{}
	c.listNames = map[string]string{}
	sh := c.wb.find("choices")
	if sh == nil || len(sh.rows) == 0 {
		return nil
	}
	cols, dups := parseHeaders(sh.rows[0], choicesAliases)
	if len(dups) > 0 {
		return &Error{Sheet: "choices", Row: 1, Column: dups[0].raw, Msg: fmt.Sprintf("column %q is given twice (or under another name for the same column)", dups[0].raw)}
	}
	var listCol, nameCol = -1, -1
	var filterCols []column
	for _, col := range cols {
		switch {
		case col.base == "list_name":
			listCol = col.idx
		case col.base == "name":
			nameCol = col.idx
		case col.base == "label" || strings.HasPrefix(col.base, "media:"):
			c.addLang(col.lang)
		default:
			if !form.ValidName(col.raw) {
				c.warn(rowKey{sheetChoices, 1, col.raw}, fmt.Sprintf("column %q is not a valid name (letters, digits, -, . and _; no spaces), so no choice filter can read it; ignored", col.raw))
				continue
			}
			filterCols = append(filterCols, col)
		}
	}
	hasData := false
	for _, row := range sh.rows[1:] {
		if !blankRow(row) {
			hasData = true
			break
		}
	}
	if !hasData {
		return nil
	}
	if listCol < 0 || nameCol < 0 {
		missing := "list_name"
		if listCol >= 0 {
			missing = "name"
		}
		return &Error{Sheet: "choices", Row: 1, Msg: fmt.Sprintf("the choices sheet has no %s column (it needs list_name, name and label)", missing)}
	}
	allowDup := yes(c.set.get("allow_choice_duplicates"))
	type spacedValues struct {
		row       int
		first, to string
		n         int
	}
	spaced := map[string]*spacedValues{}
	var spacedOrder []string
	defer func() {
		for _, list := range spacedOrder {
			sp := spaced[list]
			what := fmt.Sprintf("choice %q of list %q", sp.first, list)
			if sp.n > 1 {
				what = fmt.Sprintf("%d choices of list %q with spaces in their names, from row %d (%q)", sp.n, list, sp.row, sp.first)
			}
			c.approx(rowKey{sheetChoices, sp.row, "name"}, what,
				fmt.Sprintf("choice values have no spaces (a multiple choice answer lists values separated by spaces): they are joined with _, as %q", sp.to))
		}
	}()
	seen := map[string]map[string]int{} // list → value → row
	for i := 1; i < len(sh.rows); i++ {
		r := i + 1
		row := sh.rows[i]
		if blankRow(row) {
			continue
		}
		list, value := sh.cell(r, listCol), sh.cell(r, nameCol)
		texts := map[string]map[string]string{}
		for _, col := range cols {
			if col.base == "label" || strings.HasPrefix(col.base, "media:") {
				if v := sh.cell(r, col.idx); v != "" {
					if texts[col.base] == nil {
						texts[col.base] = map[string]string{}
					}
					if _, ok := texts[col.base][col.lang]; !ok {
						texts[col.base][col.lang] = v
					}
				}
			}
		}
		if list == "" {
			c.warn(rowKey{sheetChoices, r, ""}, "a choice without a list_name belongs to no list; ignored")
			continue
		}
		if value == "" {
			if len(texts) > 0 {
				return &Error{Sheet: "choices", Row: r, Column: "name", Msg: fmt.Sprintf("a choice of list %q needs a name", list)}
			}
			c.warn(rowKey{sheetChoices, r, ""}, "a choice without a name or a label; ignored")
			continue
		}
		cl := c.lists[list]
		if cl == nil {
			name := c.listName(list, r)
			cl = &choiceList{name: name}
			c.lists[list] = cl
			c.listOrder = append(c.listOrder, list)
			seen[list] = map[string]int{}
		}
		orig := value
		if strings.IndexFunc(value, unicode.IsSpace) >= 0 {
			value = strings.Join(strings.Fields(value), "_")
			sp := spaced[list]
			if sp == nil {
				sp = &spacedValues{row: r, first: orig, to: value}
				spaced[list] = sp
				spacedOrder = append(spacedOrder, list)
			}
			sp.n++
		}
		if len(value) > 256 {
			c.drop(rowKey{sheetChoices, r, "name"}, fmt.Sprintf("choice %.40q… of list %q", value, list), "a choice value is at most 256 bytes")
			continue
		}
		if prev, dup := seen[list][value]; dup {
			if !allowDup {
				return &Error{Sheet: "choices", Row: r, Column: "name", Msg: fmt.Sprintf("choice %q is already in list %q (row %d); names are unique in a list unless the settings sheet sets allow_choice_duplicates to yes", orig, list, prev)}
			}
			n := 2
			for ; seen[list][fmt.Sprintf("%s_%d", value, n)] != 0; n++ {
			}
			renamed := fmt.Sprintf("%s_%d", value, n)
			c.approx(rowKey{sheetChoices, r, "name"}, fmt.Sprintf("choice %q of list %q, a duplicate of row %d", orig, list, prev),
				fmt.Sprintf("values in a list are unique: this one is %q", renamed))
			value = renamed
		}
		seen[list][value] = r
		opt := form.Option{Value: value, Label: c.text(texts["label"])}
		for _, kind := range mediaKinds {
			if t := c.text(texts["media:"+kind]); !t.IsZero() {
				if opt.Media == nil {
					opt.Media = form.Media{}
				}
				opt.Media[kind] = t
			}
		}
		for _, col := range filterCols {
			if v := sh.cell(r, col.idx); v != "" {
				if opt.Filter == nil {
					opt.Filter = map[string]string{}
				}
				opt.Filter[col.raw] = v
			}
		}
		cl.options = append(cl.options, opt)
		cl.rows = append(cl.rows, r)
	}
	for _, name := range c.listOrder {
		if cl := c.lists[name]; len(cl.options) > form.MaxOptions {
			cl.tooBig = true
		}
	}
	return nil
}

var mediaKinds = []string{"image", "big-image", "audio", "video"}

// listName gives a list of the choices sheet a valid, unused template name.
func (c *converter) listName(list string, r int) string {
	name := list
	if !form.ValidName(name) {
		var b strings.Builder
		for i, ch := range name {
			switch {
			case ch == '_' || unicode.IsLetter(ch):
				b.WriteRune(ch)
			case i > 0 && (ch == '-' || ch == '.' || unicode.IsDigit(ch)):
				b.WriteRune(ch)
			case i == 0 && unicode.IsDigit(ch):
				b.WriteString("_")
				b.WriteRune(ch)
			default:
				b.WriteByte('_')
			}
		}
		name = b.String()
		if len(name) > 120 {
			name = name[:120]
		}
		if !form.ValidName(name) {
			name = "list"
		}
	}
	base := name
	for n := 2; c.listNames[name] != ""; n++ {
		name = fmt.Sprintf("%s_%d", base, n)
	}
	c.listNames[name] = list
	if name != list && r > 0 {
		c.warn(rowKey{sheetChoices, r, "list_name"}, fmt.Sprintf("list %q is named %q in the template (list names are letters, digits, -, . and _, starting with a letter or _)", list, name))
	}
	return name
}

// fileList loads the choices of select_one_from_file FILE. why says why it cannot.
func (c *converter) fileList(file string, params map[string]string) (cl *choiceList, why string) {
	valueCol, labelCol := "name", "label"
	if v := params["value"]; v != "" {
		valueCol = v
	}
	if v := params["label"]; v != "" {
		labelCol = v
	}
	key := file + "\x00" + valueCol + "\x00" + labelCol
	if cl, ok := c.files[key]; ok {
		return cl, c.fileWhy[key]
	}
	cl, why = c.loadFileList(file, valueCol, labelCol)
	if cl != nil {
		cl.file = file
		cl.name = c.listName(fileListName(file), 0)
		if len(cl.options) > form.MaxOptions {
			cl.tooBig = true
		}
	}
	c.files[key], c.fileWhy[key] = cl, why
	return cl, why
}

func fileListName(file string) string { return path.Base(strings.ReplaceAll(file, `\`, "/")) }

func (c *converter) loadFileList(file, valueCol, labelCol string) (*choiceList, string) {
	if c.opts.Files == nil {
		return nil, fmt.Sprintf("file %s was not given with the form, so its choices cannot be loaded", file)
	}
	name := strings.TrimPrefix(path.Clean(strings.ReplaceAll(file, `\`, "/")), "/")
	if !fs.ValidPath(name) {
		return nil, fmt.Sprintf("file name %q is not a plain file name", file)
	}
	f, err := c.opts.Files.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Sprintf("file %s was not found beside the form, so its choices cannot be loaded", file)
		}
		return nil, fmt.Sprintf("file %s could not be read: %v", file, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxChoiceFileBytes+1))
	if err != nil {
		return nil, fmt.Sprintf("file %s could not be read: %v", file, err)
	}
	if len(data) > maxChoiceFileBytes {
		return nil, fmt.Sprintf("file %s is over the limit of %d bytes", file, maxChoiceFileBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var items []map[string]string
	var order []string
	switch strings.ToLower(path.Ext(name)) {
	case ".csv":
		items, order, err = readCSVItems(data)
	case ".xml":
		items, order, err = readXMLItems(data)
	case ".geojson":
		items, order, err = readGeoJSONItems(data)
		if valueCol == "name" {
			valueCol = "id"
		}
		if labelCol == "label" {
			labelCol = "title"
		}
	default:
		return nil, fmt.Sprintf("file %s is not a .csv, .xml or .geojson file", file)
	}
	if err != nil {
		return nil, fmt.Sprintf("file %s could not be read: %v", file, err)
	}
	if !slices.Contains(order, valueCol) {
		return nil, fmt.Sprintf("file %s has no %q column for the choices' values", file, valueCol)
	}
	// Labels: the label column, and label::Language columns beside it.
	langCols := map[string]string{}
	for _, k := range order {
		if k == labelCol {
			langCols[k] = ""
		} else if lang, ok := strings.CutPrefix(k, labelCol+"::"); ok {
			langCols[k] = strings.TrimSpace(lang)
			c.addLang(langCols[k])
		}
	}
	cl := &choiceList{}
	seen := map[string]bool{}
	skipped, renamed := 0, 0
	for _, it := range items {
		v := strings.TrimSpace(it[valueCol])
		if v == "" {
			skipped++
			continue
		}
		if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
			v = strings.Join(strings.Fields(v), "_")
			renamed++
		}
		if seen[v] || len(v) > 256 {
			skipped++
			continue
		}
		seen[v] = true
		texts := map[string]string{}
		for k, lang := range langCols {
			if s := strings.TrimSpace(it[k]); s != "" {
				texts[lang] = s
			}
		}
		opt := form.Option{Value: v, Label: c.text(texts)}
		for _, k := range order {
			if k == valueCol || langCols[k] != "" || k == labelCol || !form.ValidName(k) {
				continue
			}
			if s := strings.TrimSpace(it[k]); s != "" {
				if opt.Filter == nil {
					opt.Filter = map[string]string{}
				}
				opt.Filter[k] = s
			}
		}
		cl.options = append(cl.options, opt)
	}
	if len(cl.options) == 0 {
		return nil, fmt.Sprintf("file %s has no choices", file)
	}
	if skipped > 0 || renamed > 0 {
		c.fileNotes[file] = fmt.Sprintf("%d choices of %s were left out (empty, duplicate or too long values) and %d had spaces in their values replaced by _", skipped, file, renamed)
	}
	return cl, ""
}

func readCSVItems(data []byte) ([]map[string]string, []string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("no header row: %v", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	var items []map[string]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		it := make(map[string]string, len(header))
		for i, v := range rec {
			if i < len(header) && header[i] != "" {
				if _, ok := it[header[i]]; !ok {
					it[header[i]] = v
				}
			}
		}
		items = append(items, it)
	}
	return items, header, nil
}

// readXMLItems reads <root><item><name/><label/>...</item>...</root>.
func readXMLItems(data []byte) ([]map[string]string, []string, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var items []map[string]string
	var order []string
	seenCol := map[string]bool{}
	depth := 0
	var cur map[string]string
	var field string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 2:
				cur = map[string]string{}
			case 3:
				field = t.Name.Local
				text.Reset()
			}
		case xml.CharData:
			if depth == 3 {
				text.Write(t)
			}
		case xml.EndElement:
			switch depth {
			case 3:
				if _, ok := cur[field]; !ok {
					cur[field] = text.String()
				}
				if !seenCol[field] {
					seenCol[field] = true
					order = append(order, field)
				}
			case 2:
				items = append(items, cur)
			}
			depth--
		}
	}
	return items, order, nil
}

// readGeoJSONItems reads a FeatureCollection: each feature's id and properties.
func readGeoJSONItems(data []byte) ([]map[string]string, []string, error) {
	var fc struct {
		Features []struct {
			ID         any            `json:"id"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, nil, err
	}
	var items []map[string]string
	order := []string{"id"}
	seen := map[string]bool{"id": true}
	for _, f := range fc.Features {
		it := map[string]string{}
		if f.ID != nil {
			it["id"] = fmt.Sprint(f.ID)
		}
		keys := make([]string, 0, len(f.Properties))
		for k := range f.Properties {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			switch v := f.Properties[k].(type) {
			case string, float64, bool:
				if _, ok := it[k]; !ok || k != "id" {
					it[k] = fmt.Sprint(v)
				}
				if !seen[k] {
					seen[k] = true
					order = append(order, k)
				}
			}
		}
		items = append(items, it)
	}
	return items, order, nil
}
