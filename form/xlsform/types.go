package xlsform

import (
	"regexp"
	"strings"

	"github.com/fieldforms/fieldforms/form"
)

// typeSpec says what an XLSForm question type becomes.
type typeSpec struct {
	t        form.FieldType
	meta     string // the field fills itself (start, end, today, ...)
	maxFiles int
	approx   string // carried over with a different behaviour: how
	drop     string // not carried over: why
}

// The question types, by name (pyxform's aliases included).
var questionTypes = map[string]typeSpec{
	"text": {t: form.TypeText}, "string": {t: form.TypeText}, "add text prompt": {t: form.TypeText}, "q string": {t: form.TypeText},
	"integer": {t: form.TypeInteger}, "int": {t: form.TypeInteger}, "add integer prompt": {t: form.TypeInteger}, "q int": {t: form.TypeInteger},
	"decimal": {t: form.TypeDecimal}, "add decimal prompt": {t: form.TypeDecimal}, "q decimal": {t: form.TypeDecimal},
	"range": {t: form.TypeRange},
	"date":  {t: form.TypeDate}, "add date prompt": {t: form.TypeDate}, "q date": {t: form.TypeDate},
	"time":     {t: form.TypeTime},
	"datetime": {t: form.TypeDateTime}, "date time": {t: form.TypeDateTime}, "add datetime prompt": {t: form.TypeDateTime},
	"add date time prompt": {t: form.TypeDateTime}, "q datetime": {t: form.TypeDateTime}, "q date time": {t: form.TypeDateTime},
	"geopoint": {t: form.TypeGeo}, "location": {t: form.TypeGeo}, "gps": {t: form.TypeGeo}, "q geopoint": {t: form.TypeGeo},
	"q location": {t: form.TypeGeo}, "add location prompt": {t: form.TypeGeo},
	"geotrace": {t: form.TypeGeoTrace}, "q geotrace": {t: form.TypeGeoTrace},
	"geoshape": {t: form.TypeGeoShape}, "q geoshape": {t: form.TypeGeoShape},
	"image": {t: form.TypePhoto, maxFiles: 1}, "photo": {t: form.TypePhoto, maxFiles: 1}, "add image prompt": {t: form.TypePhoto, maxFiles: 1},
	"add photo prompt": {t: form.TypePhoto, maxFiles: 1}, "q image": {t: form.TypePhoto, maxFiles: 1}, "q picture": {t: form.TypePhoto, maxFiles: 1},
	"audio": {t: form.TypeAudio, maxFiles: 1}, "add audio prompt": {t: form.TypeAudio, maxFiles: 1}, "q audio": {t: form.TypeAudio, maxFiles: 1},
	"video": {t: form.TypeVideo, maxFiles: 1}, "add video prompt": {t: form.TypeVideo, maxFiles: 1}, "q video": {t: form.TypeVideo, maxFiles: 1},
	"file": {t: form.TypeFile, maxFiles: 1}, "add file prompt": {t: form.TypeFile, maxFiles: 1},
	"barcode": {t: form.TypeBarcode}, "add barcode prompt": {t: form.TypeBarcode}, "q barcode": {t: form.TypeBarcode},
	"acknowledge": {t: form.TypeAcknowledge}, "trigger": {t: form.TypeAcknowledge}, "add acknowledge prompt": {t: form.TypeAcknowledge},
	"q acknowledge": {t: form.TypeAcknowledge},
	"note":          {t: form.TypeNote}, "add note prompt": {t: form.TypeNote}, "q note": {t: form.TypeNote},
	"hidden":    {t: form.TypeHidden},
	"calculate": {t: form.TypeCalculate}, "q calculate": {t: form.TypeCalculate}, "add calculate prompt": {t: form.TypeCalculate},

	"start": {t: form.TypeDateTime, meta: "start"}, "start time": {t: form.TypeDateTime, meta: "start"}, "get start time": {t: form.TypeDateTime, meta: "start"},
	"end": {t: form.TypeDateTime, meta: "end"}, "end time": {t: form.TypeDateTime, meta: "end"}, "get end time": {t: form.TypeDateTime, meta: "end"},
	"today": {t: form.TypeDate, meta: "today"}, "get today": {t: form.TypeDate, meta: "today"},
	"deviceid": {t: form.TypeHidden, meta: "deviceid"}, "imei": {t: form.TypeHidden, meta: "deviceid"}, "device id": {t: form.TypeHidden, meta: "deviceid"},
	"get device id": {t: form.TypeHidden, meta: "deviceid"}, "uri:deviceid": {t: form.TypeHidden, meta: "deviceid"},
	"username": {t: form.TypeHidden, meta: "username"}, "uri:username": {t: form.TypeHidden, meta: "username"},
	"phonenumber": {t: form.TypeHidden, meta: "phonenumber"}, "phone number": {t: form.TypeHidden, meta: "phonenumber"},
	"get phone number": {t: form.TypeHidden, meta: "phonenumber"}, "uri:phonenumber": {t: form.TypeHidden, meta: "phonenumber"},
	"email": {t: form.TypeHidden, meta: "email"}, "uri:email": {t: form.TypeHidden, meta: "email"},

	"tel": {t: form.TypeText, approx: "a text question: tel (a phone number input of CHT's XLSForm dialect) is not an XLSForm type"},

	"start-geopoint": {t: form.TypeGeo, approx: "a location question: the worker records it, it is not taken by itself when the form is opened"},

	"simserial":           {drop: dropSIM},
	"sim id":              {drop: dropSIM},
	"get sim id":          {drop: dropSIM},
	"uri:simserial":       {drop: dropSIM},
	"subscriberid":        {drop: dropSIM},
	"subscriber id":       {drop: dropSIM},
	"get subscriber id":   {drop: dropSIM},
	"uri:subscriberid":    {drop: dropSIM},
	"audit":               {drop: "audit logs of how a form was filled are not kept; Fieldforms keeps each record's history of changes instead"},
	"background-audio":    {drop: "recording audio in the background while the form is filled is not supported"},
	"background-geopoint": {drop: "taking a location in the background when another question changes is not supported"},
	"osm":                 {drop: "OpenStreetMap questions are not supported"},
	"xml-external":        {drop: dropExternal},
	"csv-external":        {drop: dropExternal},
}

const (
	dropSIM      = "deprecated: Android no longer lets apps read the SIM serial or subscriber ID"
	dropExternal = "external data files (read with instance() or pulldata()) are not supported"
)

var (
	reBegin = regexp.MustCompile(`^(begin|end)[ _](group|repeat|lgroup|looped group|loop|table-list|table_list)( (over )?(\S+))?$`)
	reEnd   = regexp.MustCompile(`^(end)[ _](group|repeat|lgroup|looped group|loop|table-list|table_list)$`)
	reSel   = regexp.MustCompile(`^(select_one_from_file|select_multiple_from_file|select one from file|select multiple from file|` +
		`select_one_external|select one external|select_one|select one|select1|select_multiple|select multiple|select all that apply from|` +
		`select all that apply|select one from|add select one prompt using|add select multiple prompt using|select one using|select multiple using|rank) (\S+)( (or specify other|or_other|or other))?$`)
	reOSM = regexp.MustCompile(`^osm \S+$`)
)

// parsedType is a survey row's type cell, parsed.
type parsedType struct {
	begin, end string // "group", "repeat", "loop", "table-list"
	over       string // begin loop over LIST

	sel      string // "one", "multiple", "rank", "external"
	fromFile bool
	list     string
	orOther  bool

	spec  typeSpec
	known bool
}

func parseType(s string) parsedType {
	s = strings.Join(strings.Fields(s), " ")
	var p parsedType
	if m := reEnd.FindStringSubmatch(s); m != nil {
		p.end, p.known = containerKind(m[2]), true
		return p
	}
	if m := reBegin.FindStringSubmatch(s); m != nil && strings.EqualFold(m[1], "begin") {
		p.begin, p.over, p.known = containerKind(m[2]), m[5], true
		return p
	}
	if m := reSel.FindStringSubmatch(s); m != nil {
		cmd := strings.ToLower(m[1])
		p.list, p.orOther, p.known = m[2], m[3] != "", true
		switch {
		case cmd == "rank":
			p.sel = "rank"
		case strings.Contains(cmd, "external"):
			p.sel = "external"
		case strings.Contains(cmd, "multiple") || strings.Contains(cmd, "all that apply"):
			p.sel = "multiple"
		default:
			p.sel = "one"
		}
		p.fromFile = strings.Contains(cmd, "file")
		return p
	}
	if reOSM.MatchString(s) {
		p.spec, p.known = questionTypes["osm"], true
		return p
	}
	// Types are matched as written, as pyxform does ("Text" is not a type), but for
	// the dateTime spellings.
	spec, ok := questionTypes[s]
	if !ok && strings.Contains(s, "dateTime") {
		spec, ok = questionTypes[strings.ReplaceAll(s, "dateTime", "datetime")]
	}
	p.spec, p.known = spec, ok
	return p
}

func containerKind(s string) string {
	switch strings.ToLower(s) {
	case "group":
		return "group"
	case "repeat", "lgroup", "looped group":
		return "repeat"
	case "loop":
		return "loop"
	}
	return "table-list"
}
