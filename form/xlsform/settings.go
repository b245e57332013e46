package xlsform

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/fieldforms/fieldforms/form"
)

// settings are the values of the settings sheet's first row.
type settings struct {
	vals  map[string]string // by canonical name
	cols  map[string]string // canonical name → header as written
	found bool              // the workbook has a settings sheet
	where map[string]rowKey // settings given on the survey sheet (set form title)
}

func (s settings) get(k string) string { return s.vals[k] }

// settingAliases maps a settings header (snake case) to its canonical name.
var settingAliases = map[string]string{
	"form_title": "form_title", "set_form_title": "form_title", "title": "form_title",
	"form_id": "form_id", "set_form_id": "form_id", "id_string": "form_id",
	"version": "version", "instance_name": "instance_name", "default_language": "default_language",
	"style": "style", "public_key": "public_key", "submission_url": "submission_url",
	"auto_send": "auto_send", "auto_delete": "auto_delete",
	"allow_choice_duplicates": "allow_choice_duplicates", "clean_text_values": "clean_text_values",
	"name": "name", "namespaces": "namespaces", "omit_instanceid": "omit_instanceid",
	"instance_id": "instance_id", "prefix": "prefix", "delimiter": "delimiter",
	"sms_keyword": "sms_keyword", "client_editable": "client_editable", "add_none_option": "add_none_option",
	"flat": "flat", "entities_version": "entities_version",
}

// booleanSettings change nothing when they are no.
var booleanSettings = map[string]bool{"omit_instanceid": true, "client_editable": true, "add_none_option": true, "flat": true}

// droppedSettings say why a setting is not carried over.
var droppedSettings = map[string]string{
	"public_key":       "forms encrypted with a public key are not supported: records are protected in transit and on the server, not per form",
	"submission_url":   "records are sent to the Fieldforms server the device is enrolled with, not to a URL per form",
	"auto_send":        "when records are sent is decided by the device's sync settings, not per form",
	"auto_delete":      "what a device keeps is decided by the device's settings, not per form",
	"name":             "the name of an XForm's root element has no meaning for Fieldforms records",
	"namespaces":       "XML namespaces have no meaning for Fieldforms records",
	"omit_instanceid":  "every Fieldforms record has its own ID",
	"instance_id":      "every Fieldforms record has its own ID",
	"prefix":           "the compact (SMS) submission format is not supported",
	"delimiter":        "the compact (SMS) submission format is not supported",
	"sms_keyword":      "the SMS submission format is not supported",
	"client_editable":  "whether sent records can be edited is decided by the server's permissions",
	"add_none_option":  "no \"none\" option is added to selects",
	"flat":             "a flat instance has no meaning for Fieldforms records",
	"entities_version": "ODK entities are not supported",
}

func (c *converter) readSettings() {
	sh := c.wb.find("settings")
	c.set = settings{vals: map[string]string{}, cols: map[string]string{}, where: map[string]rowKey{}}
	if sh == nil {
		return
	}
	c.set.found = true
	if len(sh.rows) == 0 {
		return
	}
	for len(sh.rows) > 2 {
		last := sh.rows[len(sh.rows)-1]
		if !blankRow(last) {
			c.warn(rowKey{sheetSettings, len(sh.rows), ""}, "the settings sheet has more than one row of values; only row 2 is read")
			break
		}
		sh.rows = sh.rows[:len(sh.rows)-1]
	}
	for i, h := range sh.rows[0] {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		v := sh.cell(2, i)
		k, ok := settingAliases[snake(h)]
		if !ok {
			if v != "" {
				c.warn(rowKey{sheetSettings, 2, h}, fmt.Sprintf("setting %q is not an XLSForm setting; ignored", h))
			}
			continue
		}
		if _, dup := c.set.cols[k]; dup {
			c.warn(rowKey{sheetSettings, 1, h}, fmt.Sprintf("setting %q is given twice; the first is used", h))
			continue
		}
		c.set.cols[k] = h
		if v != "" {
			c.set.vals[k] = v
		}
	}
}

// applySettings sets the template's ID, name, version label and instance name, and
// reports the settings that are not carried over.
func (c *converter) applySettings() {
	tpl := c.tpl
	at := func(k string) rowKey {
		if w, ok := c.set.where[k]; ok {
			return w
		}
		if !c.set.found {
			return rowKey{sheetSettings, 0, ""}
		}
		return rowKey{sheetSettings, 2, c.set.cols[k]}
	}
	stem := strings.TrimSuffix(filepath.Base(c.opts.FileName), filepath.Ext(c.opts.FileName))
	if c.opts.FileName == "" {
		stem = ""
	}
	// ID: form_id, or the file name.
	id := c.set.get("form_id")
	src := id
	if id == "" {
		src = stem
	}
	tpl.ID = form.MakeTemplateID(src)
	switch {
	case id != "" && tpl.ID != id:
		c.approx(at("form_id"), fmt.Sprintf("form_id %q", id), fmt.Sprintf("template IDs are lower-case letters, digits, '_', '.' and '-': the ID is %q", tpl.ID))
	case id == "":
		c.warn(at("form_id"), fmt.Sprintf("no form_id: the template ID %q is made from the file name", tpl.ID))
	}
	// Name: form_title, else form_id, else the file name.
	tpl.Name = firstLine(c.set.get("form_title"))
	if tpl.Name == "" {
		tpl.Name = firstLine(id)
	}
	if tpl.Name == "" {
		tpl.Name = stem
	}
	if strings.TrimSpace(tpl.Name) == "" {
		tpl.Name = "Untitled form"
	}
	if t := c.set.get("form_title"); t != "" && t != tpl.Name {
		c.approx(at("form_title"), fmt.Sprintf("form_title %q", t), "a template name is one line: only the first is kept")
	}
	tpl.Version = 1
	if v := c.set.get("version"); v != "" {
		tpl.VersionLabel = v
		if len(v) > 256 || strings.ContainsAny(v, "\r\n") {
			tpl.VersionLabel = firstLine(v)
			if len(tpl.VersionLabel) > 256 {
				tpl.VersionLabel = tpl.VersionLabel[:256]
			}
			c.approx(at("version"), fmt.Sprintf("version %q", v), fmt.Sprintf("a version label is one line of at most 256 bytes: %q", tpl.VersionLabel))
		}
	}
	tpl.InstanceName = c.set.get("instance_name")
	if s := c.set.get("style"); s != "" {
		c.approx(at("style"), fmt.Sprintf("style %q", s), "Fieldforms lays out every form its own way; the style (pages, theme-grid) is not applied")
	}
	for _, k := range sortedKeys(droppedSettings) {
		if v := c.set.get(k); v != "" && !(booleanSettings[k] && no(v)) {
			c.drop(at(k), fmt.Sprintf("%s %s", c.set.cols[k], quote(v)), droppedSettings[k])
		}
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

func blankRow(row []string) bool {
	for _, v := range row {
		if v != "" {
			return false
		}
	}
	return true
}
