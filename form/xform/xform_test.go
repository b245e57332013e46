package xform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/xlsform"
)

// xform writes an XForm of its parts: the primary instance's content (inside
// <data id="t">), more of the model (binds, secondary instances, itext, actions)
// and the body.
func xform(instance, model, body string) string {
	return `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:ev="http://www.w3.org/2001/xml-events" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa" xmlns:odk="http://www.opendatakit.org/xforms" xmlns:orx="http://openrosa.org/xforms">
<h:head><h:title>T</h:title>
<model odk:xforms-version="1.0.0">
<instance><data id="t" version="3">` + instance + `</data></instance>
` + model + `
</model></h:head>
<h:body>` + body + `</h:body></h:html>`
}

func importXML(t *testing.T, doc string, opts ...xlsform.Options) *xlsform.Report {
	t.Helper()
	var o xlsform.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	rep, err := Import(context.Background(), "form.xml", strings.NewReader(doc), o)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return rep
}

func field(t *testing.T, rep *xlsform.Report, key string) *form.Field {
	t.Helper()
	f, ok := rep.Template.Field(key)
	if !ok {
		t.Fatalf("no field %s in %s", key, rep.Template.Encode())
	}
	return f
}

// fieldJSON is a field's JSON without the fields inside it, for comparisons.
func fieldJSON(f *form.Field) string {
	g := *f
	g.Fields = nil
	b, _ := json.Marshal(g)
	return string(b)
}

func reportText(rep *xlsform.Report) string {
	var b strings.Builder
	for _, a := range rep.Approximated {
		fmt.Fprintf(&b, "A %s: %s: %s\n", a.Row, a.What, a.How)
	}
	for _, d := range rep.Dropped {
		fmt.Fprintf(&b, "D %s: %s: %s\n", d.Row, d.What, d.Why)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(&b, "W %s: %s\n", w.Row, w.Message)
	}
	return b.String()
}

func wantReport(t *testing.T, rep *xlsform.Report, subs ...string) {
	t.Helper()
	text := reportText(rep)
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("report lacks %q:\n%s", s, text)
		}
	}
}

func TestControls(t *testing.T) {
	for _, tc := range []struct {
		name     string
		instance string
		model    string
		body     string
		key      string
		want     string // the field's JSON
		report   []string
	}{
		{"text", `<q/>`, `<bind nodeset="/data/q" type="string"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"text","label":"Q"}`, nil},
		{"multiline", `<q/>`, `<bind nodeset="/data/q" type="string"/>`, `<input ref="/data/q" appearance="multiline"><label>Q</label></input>`,
			"q", `{"id":"q","type":"multiline","label":"Q"}`, nil},
		{"textarea", `<q/>`, ``, `<textarea ref="/data/q"><label>Q</label></textarea>`,
			"q", `{"id":"q","type":"multiline","label":"Q"}`, nil},
		{"integer", `<q/>`, `<bind nodeset="/data/q" type="int"/>`, `<input ref="/data/q" appearance="thousands-sep"><label>Q</label></input>`,
			"q", `{"id":"q","type":"integer","label":"Q","appearance":"thousands-sep"}`, nil},
		{"decimal", `<q>1.5</q>`, `<bind nodeset="/data/q" type="decimal"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"decimal","label":"Q","default":1.5}`, nil},
		{"date", `<q>2024-01-02</q>`, `<bind nodeset="/data/q" type="date"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"date","label":"Q","default":"2024-01-02"}`, nil},
		{"time", `<q/>`, `<bind nodeset="/data/q" type="time"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"time","label":"Q"}`, nil},
		{"datetime", `<q/>`, `<bind nodeset="/data/q" type="dateTime"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"datetime","label":"Q"}`, nil},
		{"geopoint", `<q>1 2 3 4</q>`, `<bind nodeset="/data/q" type="geopoint"/>`, `<input ref="/data/q" accuracyThreshold="5"><label>Q</label></input>`,
			"q", `{"id":"q","type":"geolocation","label":"Q","default":{"lat":1,"lon":2,"alt":3,"accuracy":4},"parameters":{"accuracyThreshold":"5"}}`, nil},
		{"geotrace", `<q/>`, `<bind nodeset="/data/q" type="geotrace"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"geotrace","label":"Q"}`, nil},
		{"geoshape", `<q/>`, `<bind nodeset="/data/q" type="geoshape"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"geoshape","label":"Q"}`, nil},
		{"barcode", `<q/>`, `<bind nodeset="/data/q" type="barcode"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"barcode","label":"Q"}`, nil},
		{"unknown type", `<q/>`, `<bind nodeset="/data/q" type="boolean"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"text","label":"Q"}`, []string{`A /data/q: input of type "boolean": a text question`}},
		{"note", `<q/>`, `<bind nodeset="/data/q" type="string" readonly="true()"/>`, `<input ref="/data/q"><label>Read this</label></input>`,
			"q", `{"id":"q","type":"note","label":"Read this"}`, nil},
		{"readonly calculated text", `<q/>`, `<bind nodeset="/data/q" type="string" readonly="true()" calculate="'x'"/>`, `<input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"text","label":"Q","readonly":true,"calculation":"'x'"}`, nil},
		{"trigger", `<q/>`, `<bind nodeset="/data/q" type="string" required="true()"/>`, `<trigger ref="/data/q"><label>OK?</label></trigger>`,
			"q", `{"id":"q","type":"acknowledge","label":"OK?","required":true}`, nil},
		{"range", `<q/>`, `<bind nodeset="/data/q" type="int"/>`, `<range ref="/data/q" start="0" end="10" step="2" appearance="rating"><label>Q</label></range>`,
			"q", `{"id":"q","type":"range","label":"Q","min":0,"max":10,"step":2,"appearance":"rating"}`, nil},
		{"photo", `<q/>`, `<bind nodeset="/data/q" type="binary" orx:max-pixels="1024"/>`, `<upload ref="/data/q" mediatype="image/*"><label>Q</label></upload>`,
			"q", `{"id":"q","type":"photo","label":"Q","max_files":1,"parameters":{"max-pixels":"1024"}}`, nil},
		{"signature", `<q/>`, `<bind nodeset="/data/q" type="binary"/>`, `<upload ref="/data/q" mediatype="image/*" appearance="signature"><label>Q</label></upload>`,
			"q", `{"id":"q","type":"signature","label":"Q"}`, nil},
		{"draw", `<q/>`, `<bind nodeset="/data/q" type="binary"/>`, `<upload ref="/data/q" mediatype="image/*" appearance="draw"><label>Q</label></upload>`,
			"q", `{"id":"q","type":"signature","label":"Q"}`, []string{"A /data/q: signature \"q\" with appearance draw: a signature pad"}},
		{"annotate", `<q/>`, `<bind nodeset="/data/q" type="binary"/>`, `<upload ref="/data/q" mediatype="image/*" appearance="annotate"><label>Q</label></upload>`,
			"q", `{"id":"q","type":"photo","label":"Q","max_files":1}`, []string{"with appearance annotate: a photo question"}},
		{"audio", `<q/>`, `<bind nodeset="/data/q" type="binary"/>`, `<upload ref="/data/q" mediatype="audio/*"><label>Q</label></upload>`,
			"q", `{"id":"q","type":"audio","label":"Q","max_files":1}`, nil},
		{"video", `<q/>`, `<bind nodeset="/data/q" type="binary"/>`, `<upload ref="/data/q" mediatype="video/*"><label>Q</label></upload>`,
			"q", `{"id":"q","type":"video","label":"Q","max_files":1}`, nil},
		{"file", `<q/>`, `<bind nodeset="/data/q" type="binary"/>`, `<upload ref="/data/q" mediatype="application/*"><label>Q</label></upload>`,
			"q", `{"id":"q","type":"file","label":"Q","max_files":1}`, nil},
		{"any file", `<q/>`, `<bind nodeset="/data/q" type="binary"/>`, `<upload ref="/data/q" mediatype="*/*"><label>Q</label></upload>`,
			"q", `{"id":"q","type":"file","label":"Q","max_files":1}`, nil},
		{"select one inline", `<q>b</q>`, `<bind nodeset="/data/q" type="string"/>`,
			`<select1 ref="/data/q" appearance="minimal"><label>Q</label><item><label>A</label><value>a</value></item><item><label>B</label><value>b</value></item></select1>`,
			"q", `{"id":"q","type":"choice","label":"Q","options":[{"value":"a","label":"A"},{"value":"b","label":"B"}],"default":"b","appearance":"minimal"}`, nil},
		{"select multiple", `<q>a b</q>`, `<bind nodeset="/data/q" type="string"/>`,
			`<select ref="/data/q"><label>Q</label><item><label>A</label><value>a</value></item><item><label>B</label><value>b</value></item></select>`,
			"q", `{"id":"q","type":"multichoice","label":"Q","options":[{"value":"a","label":"A"},{"value":"b","label":"B"}],"default":["a","b"]}`, nil},
		{"rank", `<q/>`, `<bind nodeset="/data/q" type="odk:rank"/>`,
			`<odk:rank ref="/data/q"><label>Q</label><item><label>A</label><value>a</value></item><item><label>B</label><value>b</value></item></odk:rank>`,
			"q", `{"id":"q","type":"rank","label":"Q","options":[{"value":"a","label":"A"},{"value":"b","label":"B"}]}`, nil},
		{"option with a space", `<q/>`, ``,
			`<select1 ref="/data/q"><label>Q</label><item><label>A</label><value>a a</value></item><item><label>B</label><value>b</value></item></select1>`,
			"q", `{"id":"q","type":"choice","label":"Q","options":[{"value":"a_a","label":"A"},{"value":"b","label":"B"}]}`, []string{`A /h:html/h:body/select1: 1 option value(s) of the select with white space, such as "a a"`}},
		{"option without a label", `<q/>`, ``,
			`<select1 ref="/data/q"><label>Q</label><item><value>a</value></item><item><label>B</label><value>b</value></item></select1>`,
			"q", `{"id":"q","type":"choice","label":"Q","list":"q"}`, nil},
		{"osm", `<q/><r/>`, ``, `<upload ref="/data/q" mediatype="osm/*"><label>Q</label><tag key="building"/></upload><input ref="/data/r"><label>R</label></input>`,
			"r", `{"id":"r","type":"text","label":"R"}`, []string{`D /data/q: file "q": OpenStreetMap questions are not supported`}},
		{"calculate", `<c/>`, `<bind nodeset="/data/c" type="string" calculate="1 + 2"/>`, ``,
			"c", `{"id":"c","type":"calculate","calculation":"1 + 2"}`, nil},
		{"hidden with default", `<h>abc</h>`, `<bind nodeset="/data/h" type="string"/>`, ``,
			"h", `{"id":"h","type":"hidden","default":"abc"}`, nil},
		{"no label", `<q/>`, ``, `<input ref="/data/q"/>`,
			"q", `{"id":"q","type":"text","label":"q"}`, []string{`A /data/q: text "q" without a label: a question needs a label`}},
		{"rules", `<a/><q/>`, `<bind nodeset="/data/a" type="int"/><bind nodeset="/data/q" type="int" relevant=" /data/a  &gt; 1" constraint=". &lt; /data/a" jr:constraintMsg="Too big" required=" /data/a = 2" jr:requiredMsg="Needed" readonly="/data/a = 3"/>`,
			`<input ref="/data/a"><label>A</label></input><input ref="/data/q"><label>Q</label></input>`,
			"q", `{"id":"q","type":"integer","label":"Q","required":"${a} = 2","required_message":"Needed","relevant":"${a}  \u003e 1","constraint":". \u003c ${a}","constraint_message":"Too big","readonly":"${a} = 3"}`, nil},
		{"intent", `<q/>`, ``, `<input ref="/data/q" odk:intent="org.app"><label>Q</label></input>`,
			"q", `{"id":"q","type":"text","label":"Q"}`, []string{`intent "org.app": the other app is not launched`}},
		{"secret", `<q/>`, ``, `<secret ref="/data/q"><label>Q</label></secret>`,
			"q", `{"id":"q","type":"text","label":"Q"}`, []string{"(secret): a text question: what is typed is shown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := importXML(t, xform(tc.instance, tc.model, tc.body))
			f := field(t, rep, tc.key)
			if got := fieldJSON(f); got != tc.want {
				t.Errorf("field\n got %s\nwant %s\n%s", got, tc.want, reportText(rep))
			}
			wantReport(t, rep, tc.report...)
			if tc.report == nil && (len(rep.Approximated) > 0 || len(rep.Dropped) > 0) {
				t.Errorf("unexpected report:\n%s", reportText(rep))
			}
		})
	}
}

func TestSettings(t *testing.T) {
	doc := strings.Replace(xform(`<q/>`, ``, `<input ref="/data/q"><label>Q</label></input>`), `<data id="t" version="3">`, `<data id="My Form (v2)" version="2024-03" odk:prefix="x">`, 1)
	doc = strings.Replace(doc, "<h:title>T</h:title>", "<h:title>Water points</h:title>", 1)
	rep := importXML(t, doc)
	tpl := rep.Template
	if tpl.ID != "my-form-v2" || tpl.Name != "Water points" || tpl.VersionLabel != "2024-03" || tpl.Version != 1 {
		t.Errorf("id %q name %q version %q %d", tpl.ID, tpl.Name, tpl.VersionLabel, tpl.Version)
	}
	wantReport(t, rep, `A /h:html/h:head/model/instance/data: form id "My Form (v2)": template IDs are`, `odk:prefix="x" of the primary instance`)

	// No id: the file name makes one.
	doc = strings.Replace(xform(`<q/>`, ``, `<input ref="/data/q"><label>Q</label></input>`), ` id="t"`, ``, 1)
	rep, err := Import(context.Background(), "dir/Site Visit.xml", strings.NewReader(doc), xlsform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Template.ID != "site-visit" {
		t.Errorf("id %q", rep.Template.ID)
	}
	wantReport(t, rep, `W /h:html/h:head/model/instance/data: the primary instance has no id attribute`)
}

func TestItext(t *testing.T) {
	model := `<itext>
<translation lang="English (en)" default="true()">
  <text id="/data/q:label"><value>Hello <output value=" /data/name "/></value><value form="image">jr://images/hi.png</value><value form="audio">jr://audio/hi.mp3</value></text>
  <text id="/data/q:hint"><value>A hint</value><value form="guidance">More help</value></text>
  <text id="/data/q:jr:constraintMsg"><value>Too small</value></text>
  <text id="c-a"><value>Apple</value><value form="image">jr://images/apple.png</value></text>
</translation>
<translation lang="French (fr)">
  <text id="/data/q:label"><value>Bonjour <output value=" /data/name "/></value><value form="image">jr://images/salut.png</value></text>
  <text id="/data/q:hint"><value>Un indice</value></text>
  <text id="/data/q:jr:constraintMsg"><value>Trop petit</value></text>
  <text id="c-a"><value>Pomme</value></text>
</translation>
</itext>
<bind nodeset="/data/q" type="int" constraint=". &gt; 1" jr:constraintMsg="jr:itext('/data/q:jr:constraintMsg')"/>`
	body := `<input ref="/data/name"><label>Name</label></input>
<input ref="/data/q"><label ref="jr:itext('/data/q:label')"/><hint ref="jr:itext('/data/q:hint')"/></input>
<select1 ref="/data/s"><label>S</label><item><label ref="jr:itext('c-a')"/><value>a</value></item></select1>`
	rep := importXML(t, xform(`<name/><q/><s/>`, model, body))
	tpl := rep.Template
	if strings.Join(tpl.Languages, "|") != "English (en)|French (fr)" || tpl.DefaultLanguage != "English (en)" {
		t.Errorf("languages %q default %q", tpl.Languages, tpl.DefaultLanguage)
	}
	want := `{"id":"q","type":"integer","label":{"English (en)":"Hello ${name}","French (fr)":"Bonjour ${name}"},` +
		`"help":{"English (en)":"A hint","French (fr)":"Un indice"},"guidance":{"English (en)":"More help"},` +
		`"constraint":". \u003e 1","constraint_message":{"English (en)":"Too small","French (fr)":"Trop petit"},` +
		`"media":{"audio":{"English (en)":"hi.mp3"},"image":{"English (en)":"hi.png","French (fr)":"salut.png"}}}`
	if got := fieldJSON(field(t, rep, "q")); got != want {
		t.Errorf("q\n got %s\nwant %s", got, want)
	}
	want = `{"id":"s","type":"choice","label":"S","options":[{"value":"a","label":{"English (en)":"Apple","French (fr)":"Pomme"},"media":{"image":{"English (en)":"apple.png"}}}]}`
	if got := fieldJSON(field(t, rep, "s")); got != want {
		t.Errorf("s\n got %s\nwant %s", got, want)
	}
	if len(rep.Approximated)+len(rep.Dropped) > 0 {
		t.Errorf("report:\n%s", reportText(rep))
	}

	// "default" is the untranslated language.
	model = `<itext><translation lang="default" default="true()"><text id="l"><value>Plain</value></text></translation>
<translation lang="Swahili (sw)"><text id="l"><value>Swahili</value></text></translation></itext>`
	rep = importXML(t, xform(`<q/>`, model, `<input ref="/data/q"><label ref="jr:itext('l')"/></input>`))
	if got := fieldJSON(field(t, rep, "q")); got != `{"id":"q","type":"text","label":{"":"Plain","Swahili (sw)":"Swahili"}}` {
		t.Errorf("q %s", got)
	}
	if strings.Join(rep.Template.Languages, "|") != "Swahili (sw)" || rep.Template.DefaultLanguage != "" {
		t.Errorf("languages %q default %q", rep.Template.Languages, rep.Template.DefaultLanguage)
	}
}

const cascade = `<instance id="states"><root>
  <item><name>ca</name><label>California</label></item>
  <item><name>ny</name><label>New York</label></item>
</root></instance>
<instance id="cities"><root>
  <item><name>la</name><label>Los Angeles</label><state>ca</state><size>big</size></item>
  <item><name>sf</name><label>San Francisco</label><state>ca</state><size>mid</size></item>
  <item><name>nyc</name><label>New York City</label><state>ny</state><size>big</size></item>
</root></instance>`

func TestItemsets(t *testing.T) {
	body := `<select1 ref="/data/state"><label>State</label>
  <itemset nodeset="instance('states')/root/item"><value ref="name"/><label ref="label"/></itemset></select1>
<input ref="/data/size"><label>Size</label></input>
<select1 ref="/data/city"><label>City</label>
  <itemset nodeset="instance('cities')/root/item[state= current()/../state  and size = /data/size]"><value ref="name"/><label ref="label"/></itemset></select1>
<select ref="/data/cities"><label>Cities</label>
  <itemset nodeset="randomize(instance('cities')/root/item[state=/data/state][size != 'mid'])"><value ref="name"/><label ref="label"/></itemset></select>`
	rep := importXML(t, xform(`<state/><size/><city/><cities/>`, cascade, body))
	tpl := rep.Template
	if got := fieldJSON(field(t, rep, "city")); got != `{"id":"city","type":"choice","label":"City","list":"cities","choice_filter":"state= ${state}  and size = ${size}"}` {
		t.Errorf("city %s", got)
	}
	if got := fieldJSON(field(t, rep, "cities")); got != `{"id":"cities","type":"multichoice","label":"Cities","list":"cities","choice_filter":"(state=${state}) and (size != 'mid')"}` {
		t.Errorf("cities %s", got)
	}
	if got := fieldJSON(field(t, rep, "state")); got != `{"id":"state","type":"choice","label":"State","list":"states"}` {
		t.Errorf("state %s", got)
	}
	b, _ := json.Marshal(tpl.Choices["cities"][0])
	if string(b) != `{"value":"la","label":"Los Angeles","filter":{"size":"big","state":"ca"}}` {
		t.Errorf("option %s", b)
	}
	if len(tpl.Choices) != 2 {
		t.Errorf("choices %v", tpl.Choices)
	}
	wantReport(t, rep, "randomize(): the options are offered in their order, not shuffled")

	// The filter works in the engine: choosing a state narrows the cities.
	fm := tpl.NewForm(nil, form.Context{})
	fm.Start()
	if err := fm.Set("state", json.RawMessage(`"ca"`)); err != nil {
		t.Fatal(err)
	}
	if err := fm.Set("size", json.RawMessage(`"big"`)); err != nil {
		t.Fatal(err)
	}
	opts := fm.Options("city")
	if len(opts) != 1 || opts[0].Value != "la" {
		t.Errorf("options of city: %v", opts)
	}
}

func TestItemsetValueColumn(t *testing.T) {
	model := `<instance id="l"><root><item><code>1</code><txt>One</txt><grp>a</grp></item><item><code>2</code><txt>Two</txt><grp>b</grp></item></root></instance>`
	body := `<input ref="/data/g"><label>G</label></input><select1 ref="/data/q"><label>Q</label>
<itemset nodeset="instance('l')/root/item[grp = /data/g and code != '3' and txt != '']"><value ref="code"/><label ref="txt"/></itemset></select1>`
	rep := importXML(t, xform(`<g/><q/>`, model, body))
	if got := field(t, rep, "q").ChoiceFilter; got != "grp = ${g} and name != '3' and label != ''" {
		t.Errorf("filter %q", got)
	}
	b, _ := json.Marshal(rep.Template.Choices["l"])
	if string(b) != `[{"value":"1","label":"One","filter":{"grp":"a"}},{"value":"2","label":"Two","filter":{"grp":"b"}}]` {
		t.Errorf("options %s", b)
	}
}

func TestExternalInstance(t *testing.T) {
	model := `<instance id="fruits" src="jr://file-csv/fruits.csv"/>`
	body := `<select1 ref="/data/q"><label>Q</label><itemset nodeset="instance('fruits')/root/item[colour='red']"><value ref="name"/><label ref="label"/></itemset></select1>`
	doc := xform(`<q/>`, model, body)
	files := fstest.MapFS{"fruits.csv": {Data: []byte("name,label,label::French (fr),colour\napple,Apple,Pomme,red\nbanana,Banana,Banane,yellow\n")}}
	rep := importXML(t, doc, xlsform.Options{Files: files})
	b, _ := json.Marshal(rep.Template.Choices["fruits"])
	if string(b) != `[{"value":"apple","label":{"":"Apple","French (fr)":"Pomme"},"filter":{"colour":"red"}},{"value":"banana","label":{"":"Banana","French (fr)":"Banane"},"filter":{"colour":"yellow"}}]` {
		t.Errorf("options %s", b)
	}
	if f := field(t, rep, "q"); f.ChoiceFilter != "colour='red'" {
		t.Errorf("filter %q", f.ChoiceFilter)
	}

	// An XML file.
	doc = xform(`<q/>`, `<instance id="fruits" src="jr://file/fruits.xml"/>`, strings.Replace(body, "[colour='red']", "", 1))
	files = fstest.MapFS{"fruits.xml": {Data: []byte(`<root><item><name>a</name><label>A</label></item></root>`)}}
	rep = importXML(t, doc, xlsform.Options{Files: files})
	if len(rep.Template.Choices["fruits"]) != 1 {
		t.Errorf("choices %v", rep.Template.Choices)
	}

	// Without the file, the select is dropped, and the form still imports.
	doc = xform(`<q/><r/>`, model, body+`<input ref="/data/r"><label>R</label></input>`)
	rep = importXML(t, doc)
	if _, ok := rep.Template.Field("q"); ok {
		t.Error("q imported without its file")
	}
	wantReport(t, rep, `D /data/q: choice "q": its options come from the file fruits.csv, which was not given with the form`)
	if rep.Imported != 1 {
		t.Errorf("imported %d", rep.Imported)
	}
}

func TestRepeatsAndGroups(t *testing.T) {
	instance := `<n/><outer><inner><a/></inner><b/></outer>
<people jr:template=""><name/><age/><pets jr:template=""><pet/></pets></people>
<people><name/><age/><pets><pet/></pets></people>
<fixed jr:template=""><x/></fixed><loose><y/></loose>`
	model := `<bind nodeset="/data/n" type="int"/><bind nodeset="/data/people" relevant=" /data/n  &gt; 0"/>
<bind nodeset="/data/people/age" type="int" constraint=". &lt; 150"/><bind nodeset="/data/fixed/x" type="string" calculate="position(..)"/>`
	body := `<input ref="/data/n"><label>N</label></input>
<group ref="/data/outer" appearance="field-list"><label>Outer</label>
  <group ref="/data/outer/inner"><label>Inner</label><input ref="/data/outer/inner/a"><label>A</label></input></group>
  <input ref="b"><label>B</label></input>
</group>
<group ref="/data/people"><label>People</label>
  <repeat nodeset="/data/people" jr:count=" /data/n ">
    <input ref="/data/people/name"><label>Name</label></input>
    <input ref="age"><label>Age of <output value=" ../name "/></label></input>
    <group ref="/data/people/pets"><label>Pets</label><repeat nodeset="/data/people/pets"><input ref="/data/people/pets/pet"><label>Pet</label></input></repeat></group>
  </repeat>
</group>
<repeat nodeset="/data/fixed" jr:noAddRemove="true()"/>
<input ref="/data/loose/y"><label>Y</label></input>`
	rep := importXML(t, xform(instance, model, body))
	for key, want := range map[string]string{
		"outer":           `{"id":"outer","type":"group","label":"Outer","appearance":"field-list"}`,
		"outer/inner":     `{"id":"inner","type":"group","label":"Inner"}`,
		"outer/inner/a":   `{"id":"a","type":"text","label":"A"}`,
		"outer/b":         `{"id":"b","type":"text","label":"B"}`,
		"people":          `{"id":"people","type":"repeat","label":"People","relevant":"${n}  \u003e 0","repeat_count":"${n}"}`,
		"people/age":      `{"id":"age","type":"integer","label":"Age of ${name}","constraint":". \u003c 150"}`,
		"people/pets":     `{"id":"pets","type":"repeat","label":"Pets"}`,
		"people/pets/pet": `{"id":"pet","type":"text","label":"Pet"}`,
		"fixed":           `{"id":"fixed","type":"repeat"}`,
		"fixed/x":         `{"id":"x","type":"calculate","calculation":"position(..)"}`,
		"loose":           `{"id":"loose","type":"group"}`,
		"loose/y":         `{"id":"y","type":"text","label":"Y"}`,
	} {
		if got := fieldJSON(field(t, rep, key)); got != want {
			t.Errorf("%s\n got %s\nwant %s", key, got, want)
		}
	}
	wantReport(t, rep, "A /h:html/h:body/repeat: jr:noAddRemove: workers can add and remove the repeat's instances")
	if n := len(rep.Template.All()); n != 14 {
		t.Errorf("%d fields", n)
	}

	// The repeat count works in the engine.
	fm := rep.Template.NewForm(nil, form.Context{})
	fm.Start()
	if err := fm.Set("n", json.RawMessage(`3`)); err != nil {
		t.Fatal(err)
	}
	if got := len(fm.Instances("", field(t, rep, "people"))); got != 3 {
		t.Errorf("%d instances", got)
	}
}

func TestBodyOrder(t *testing.T) {
	// The body's order wins over the instance's; fields without a control keep
	// their places.
	rep := importXML(t, xform(`<a/><c/><b/>`, `<bind nodeset="/data/c" calculate="1"/>`,
		`<input ref="/data/b"><label>B</label></input><input ref="/data/a"><label>A</label></input>`))
	var ids []string
	for _, f := range rep.Template.Fields {
		ids = append(ids, f.ID)
	}
	if got := strings.Join(ids, ","); got != "b,c,a" {
		t.Errorf("order %s", got)
	}
}

func TestSetvalue(t *testing.T) {
	instance := `<a/><b/><c/><d/><when/><rep jr:template=""><r/></rep>`
	model := `<bind nodeset="/data/a" type="int"/><bind nodeset="/data/b" type="string"/><bind nodeset="/data/c" type="string"/>
<bind nodeset="/data/d" type="date"/><bind nodeset="/data/when" type="dateTime"/><bind nodeset="/data/rep/r" type="int"/>
<setvalue event="odk-instance-first-load" ref="/data/b" value="'hello'"/>
<setvalue event="odk-instance-first-load" ref="/data/c" value="concat('x', /data/a)"/>
<setvalue event="odk-instance-first-load" ref="/data/d" value="today()"/>
<setvalue event="odk-instance-first-load odk-new-repeat" ref="/data/rep/r" value="position(..)"/>`
	body := `<input ref="/data/a"><label>A</label><setvalue event="xforms-value-changed" ref="/data/when" value="now()"/></input>
<input ref="/data/b"><label>B</label></input><input ref="/data/c"><label>C</label></input><input ref="/data/d"><label>D</label></input>
<repeat nodeset="/data/rep"><input ref="/data/rep/r"><label>R</label></input><setvalue event="odk-new-repeat" ref="/data/rep/r" value="position(..)"/></repeat>`
	rep := importXML(t, xform(instance, model, body))
	for key, want := range map[string]string{
		"b":     `{"id":"b","type":"text","label":"B","default":"hello"}`,
		"c":     `{"id":"c","type":"text","label":"C","default_expr":"concat('x', ${a})"}`,
		"d":     `{"id":"d","type":"date","label":"D","default_expr":"today()"}`,
		"when":  `{"id":"when","type":"calculate","calculation":"now()","trigger":["a"]}`,
		"rep/r": `{"id":"r","type":"integer","label":"R","default_expr":"position(..)"}`,
	} {
		if got := fieldJSON(field(t, rep, key)); got != want {
			t.Errorf("%s\n got %s\nwant %s", key, got, want)
		}
	}
	if len(rep.Approximated)+len(rep.Dropped) > 0 {
		t.Errorf("report:\n%s", reportText(rep))
	}
	// setgeopoint, recordaudio and unknown events are reported.
	model = `<setvalue event="xforms-ready" ref="/data/a" value="1"/><odk:setgeopoint event="odk-instance-first-load" ref="/data/loc"/>`
	rep = importXML(t, xform(`<a/><loc/><aud/>`, model, `<input ref="/data/a"><label>A</label><odk:recordaudio event="odk-instance-load" ref="/data/aud"/></input>`))
	wantReport(t, rep, `(event xforms-ready): the event is not supported`, `odk:setgeopoint: a location question labelled with its name`,
		`recording audio in the background while the form is filled is not supported`)
	if f := field(t, rep, "loc"); f.Type != form.TypeGeo {
		t.Errorf("loc %s", fieldJSON(f))
	}
}

func TestMeta(t *testing.T) {
	instance := `<start/><end/><today/><deviceid/><username/><email/><phonenumber/><sim/><q/>
<meta><instanceID/><instanceName/><deprecatedID/><audit/></meta>`
	model := `<bind nodeset="/data/start" type="dateTime" jr:preload="timestamp" jr:preloadParams="start"/>
<bind nodeset="/data/end" type="dateTime" jr:preload="timestamp" jr:preloadParams="end"/>
<bind nodeset="/data/today" type="date" jr:preload="date" jr:preloadParams="today"/>
<bind nodeset="/data/deviceid" type="string" jr:preload="property" jr:preloadParams="deviceid"/>
<bind nodeset="/data/username" type="string" jr:preload="property" jr:preloadParams="username"/>
<bind nodeset="/data/email" type="string" jr:preload="property" jr:preloadParams="email"/>
<bind nodeset="/data/phonenumber" type="string" jr:preload="property" jr:preloadParams="phonenumber"/>
<bind nodeset="/data/sim" type="string" jr:preload="property" jr:preloadParams="simserial"/>
<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>
<bind nodeset="/data/meta/instanceName" type="string" calculate="concat('Visit ', /data/q)"/>
<bind nodeset="/data/meta/audit" type="binary"/>`
	rep := importXML(t, xform(instance, model, `<input ref="/data/q"><label>Q</label></input>`))
	for key, want := range map[string]string{
		"start":           `{"id":"start","type":"datetime","meta":"start"}`,
		"end":             `{"id":"end","type":"datetime","meta":"end"}`,
		"today":           `{"id":"today","type":"date","meta":"today"}`,
		"deviceid":        `{"id":"deviceid","type":"hidden","meta":"deviceid"}`,
		"username":        `{"id":"username","type":"hidden","meta":"username"}`,
		"email":           `{"id":"email","type":"hidden","meta":"email"}`,
		"phonenumber":     `{"id":"phonenumber","type":"hidden","meta":"phonenumber"}`,
		"meta/instanceID": `{"id":"instanceID","type":"hidden","meta":"instanceid"}`,
	} {
		if got := fieldJSON(field(t, rep, key)); got != want {
			t.Errorf("%s\n got %s\nwant %s", key, got, want)
		}
	}
	if rep.Template.InstanceName != "concat('Visit ', ${q})" {
		t.Errorf("instance name %q", rep.Template.InstanceName)
	}
	for _, key := range []string{"sim", "meta/instanceName", "meta/deprecatedID", "meta/audit"} {
		if _, ok := rep.Template.Field(key); ok {
			t.Errorf("%s imported", key)
		}
	}
	wantReport(t, rep, `D /data/sim: hidden "sim": deprecated`, `D /data/meta/deprecatedID:`, `D /data/meta/audit: file "audit": audit logs`)
	// 14 items: 9 top-level, meta, and 4 in meta; sim, deprecatedID and audit are dropped.
	if rep.Imported != 11 {
		t.Errorf("imported %d:\n%s", rep.Imported, reportText(rep))
	}
}

func TestNamesAndPaths(t *testing.T) {
	// Two fields named x: their paths stay; unique names become ${name}.
	instance := `<g1><x/></g1><g2><x/></g2><y/>`
	model := `<bind nodeset="/data/g2/x" relevant=" /data/g1/x  = 'a' and ../../y != ''"/>`
	body := `<group ref="/data/g1"><input ref="x"><label>X1</label></input></group>
<group ref="/data/g2"><input ref="x"><label>X2 <output value="/data/g1/x"/> <output value="/data/y"/></label></input></group>
<input ref="/data/y"><label>Y</label></input>`
	rep := importXML(t, xform(instance, model, body))
	f := field(t, rep, "g2/x")
	if f.Relevant != "/data/g1/x  = 'a' and ${y} != ''" {
		t.Errorf("relevant %q", f.Relevant)
	}
	if f.Label.String() != "X2  ${y}" {
		t.Errorf("label %q", f.Label.String())
	}
	wantReport(t, rep, `A /h:html/h:body/group[2]/input/label/output[1]: <output value="/data/g1/x"/> in the label: left out`)

	// A name that is not a Fieldforms name is changed, and the references with it.
	rep = importXML(t, xform(`<_status/><b/>`, `<bind nodeset="/data/b" relevant="/data/_status = 1"/>`,
		`<input ref="/data/_status"><label>S</label></input><input ref="/data/b"><label>B</label></input>`))
	if f := field(t, rep, "b"); f.Relevant != "${_status_1} = 1" {
		t.Errorf("relevant %q", f.Relevant)
	}
}

func TestDroppedRules(t *testing.T) {
	instance := `<a/><b/><c/><d/><e/>`
	model := `<instance id="l"><root><item><name>x</name><label>X</label></item></root></instance>
<bind nodeset="/data/b" calculate="pulldata('f', 'c', 'k', /data/a)"/>
<bind nodeset="/data/c" calculate="instance('l')/root/item[name = /data/a]/label"/>
<bind nodeset="/data/d" relevant="/data/nope = 1" required="true()"/>
<bind nodeset="/data/e" calculate="/data/e + 1"/>`
	body := `<input ref="/data/a"><label>A</label></input><input ref="/data/d"><label>D</label></input>`
	rep := importXML(t, xform(instance, model, body))
	wantReport(t, rep,
		`D /data/b: calculate "pulldata('f', 'c', 'k', /data/a)": calculation: column 1: pulldata() needs the form's CSV file`,
		`D /data/c: calculate "instance('l')/root/item[name = /data/a]/label": it reads the secondary instance 'l'`,
		`D /data/d: relevant "/data/nope = 1": /data/nope names no node of the primary instance`)
	if f := field(t, rep, "b"); f.Type != form.TypeHidden || f.Calculation != "" {
		t.Errorf("b %s", fieldJSON(f))
	}
	if f := field(t, rep, "d"); !f.Required.Const || f.Relevant != "" {
		t.Errorf("d %s", fieldJSON(f))
	}
	if rep.Imported != 2 { // a, and e (which reads itself)
		t.Errorf("imported %d", rep.Imported)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, doc, path, msg string
		notXForm             bool
	}{
		{"not xml", "hello", "", "holds no XML element", true},
		{"truncated", xform(`<q/>`, ``, `<input ref="/data/q">`), "/h:html/h:body/input", "malformed XML", true},
		{"html", `<html><body/></html>`, "/html", "no <h:head>", true},
		{"other root", `<data/>`, "/data", "not <h:html>", true},
		{"no instance", `<h:html xmlns:h="http://www.w3.org/1999/xhtml" xmlns="http://www.w3.org/2002/xforms"><h:head><model/></h:head></h:html>`, "/h:html/h:head/model", "no <instance>", true},
		{"missing node", xform(`<q/>`, ``, `<group ref="/data"><input ref="/data/q"><label>Q</label></input><input ref="/data/r"><label>R</label></input></group>`),
			"/h:html/h:body/group/input[2]", `ref "/data/r" names no node of the primary instance`, false},
		{"control on a group", xform(`<g><q/></g>`, ``, `<input ref="/data/g"><label>Q</label></input>`),
			"/h:html/h:body/input", "names a group of the primary instance", false},
		{"no field", xform(`<sim/>`, `<bind nodeset="/data/sim" jr:preload="property" jr:preloadParams="simserial"/>`, ``),
			"/h:html/h:head/model/instance/data", `no field of the form can be imported (1 dropped; the first: /data/sim: hidden "sim": deprecated`, false},
		{"bad range", xform(`<q/>`, `<bind nodeset="/data/q" type="int"/>`, `<group ref="/data"><range ref="/data/q" start="0" end="10" step="3"><label>Q</label></range></group>`),
			"/h:html/h:body/group/range", "step 3 does not divide", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import(context.Background(), "f.xml", strings.NewReader(tc.doc), xlsform.Options{})
			var xe *Error
			if !errors.As(err, &xe) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if xe.Path != tc.path || !strings.Contains(xe.Msg, tc.msg) {
				t.Errorf("got %q at %q, want %q at %q", xe.Msg, xe.Path, tc.msg, tc.path)
			}
			if errors.Is(err, ErrNotXForm) != tc.notXForm {
				t.Errorf("errors.Is(ErrNotXForm) = %v", !tc.notXForm)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	big := strings.Repeat("<a>", maxXMLDepth+1)
	_, err := Import(context.Background(), "f.xml", strings.NewReader(`<h:html xmlns:h="http://www.w3.org/1999/xhtml">`+big), xlsform.Options{})
	if err == nil || !strings.Contains(err.Error(), "nest more than") {
		t.Errorf("deep: %v", err)
	}
	_, err = Import(context.Background(), "f.xml", strings.NewReader(strings.Repeat(" ", MaxFileSize+1)), xlsform.Options{})
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("big: %v", err)
	}
	// An entity the document declares is not expanded.
	doc := `<?xml version="1.0"?><!DOCTYPE h:html [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + xform(`<q/>`, ``, `<input ref="/data/q"><label>&x;</label></input>`)[len(`<?xml version="1.0"?>`):]
	_, err = Import(context.Background(), "f.xml", strings.NewReader(doc), xlsform.Options{})
	if err == nil || !strings.Contains(err.Error(), "malformed XML") {
		t.Errorf("entity: %v", err)
	}
}

func TestEveryItemCountedOnce(t *testing.T) {
	instance := `<a/><b/><c/><g><d/></g>`
	model := `<bind nodeset="/data/b" calculate="pulldata('x','y','z','w')"/><bind nodeset="/data/c" jr:preload="property" jr:preloadParams="simserial"/>`
	rep := importXML(t, xform(instance, model, `<input ref="/data/a"><label>A</label></input><group ref="/data/g"><input ref="/data/g/d"><label>D</label></input></group>`))
	// a, g, d imported; b approximated (its calculation dropped); c dropped.
	if rep.Imported != 3 {
		t.Errorf("imported %d\n%s", rep.Imported, reportText(rep))
	}
}

func TestGroupOnAValue(t *testing.T) {
	// JavaRosa lets a group bind a value (for its relevance): the questions stay.
	rep := importXML(t, xform(`<v/><q/>`, `<bind nodeset="/data/v" relevant="1 = 2"/>`, `<group ref="/data/v"><label>G</label><input ref="/data/q"><label>Q</label></input></group>`))
	field(t, rep, "q")
	wantReport(t, rep, `A /h:html/h:body/group: group ref "/data/v": it names a value`)
}

func TestGeoJSONOptions(t *testing.T) {
	geo := `{"type":"FeatureCollection","features":[
{"type":"Feature","id":"p1","properties":{"title":"Well","kind":"water"},"geometry":{"type":"Point","coordinates":[36.8,-1.3]}},
{"type":"Feature","properties":{"id":"p2","title":"Road","kind":"road"},"geometry":{"type":"LineString","coordinates":[[36.8,-1.3],[36.9,-1.4,10]]}}]}`
	model := `<instance id="places" src="jr://file/places.geojson"/>`
	body := `<select1 ref="/data/q" appearance="map"><label>Q</label><itemset nodeset="instance('places')/root/item[kind != 'road']"><value ref="id"/><label ref="title"/></itemset></select1>`
	rep := importXML(t, xform(`<q/>`, model, body), xlsform.Options{Files: fstest.MapFS{"places.geojson": {Data: []byte(geo)}}})
	b, _ := json.Marshal(rep.Template.Choices["places"])
	want := `[{"value":"p1","label":"Well","filter":{"geometry":"-1.3 36.8 0 0","kind":"water"}},{"value":"p2","label":"Road","filter":{"geometry":"-1.3 36.8 0 0; -1.4 36.9 10 0","kind":"road"}}]`
	if string(b) != want {
		t.Errorf("options\n got %s\nwant %s", b, want)
	}
	if f := field(t, rep, "q"); f.ChoiceFilter != "kind != 'road'" || f.Appearance != "map" {
		t.Errorf("q %s", fieldJSON(f))
	}
}

func TestMoreMappings(t *testing.T) {
	model := `<itext><translation lang="en"><text id="l"><value form="short">S</value><value>Long</value></text></translation></itext>
<instance id="l"><root><item><name>a</name><label>A</label></item></root></instance>
<bind nodeset="/data/c" type="string" calculate="jr:choice-name( /data/s , ' /data/s ')"/>
<setvalue event="odk-instance-load" ref="/data/t" value="now()"/>
<bind nodeset="/data/g/x" relevant="count(/data/rep[x = 1]) &gt; 0"/>`
	body := `<select1 ref="/data/s"><label ref="jr:itext('l')"/><itemset nodeset="instance('l')/root/item"><value ref="name"/><label ref="label"/></itemset></select1>
<select1 ref="/data/fromrep"><label>From a repeat</label><itemset nodeset="/data/rep"><value ref="x"/><label ref="x"/></itemset></select1>
<group ref="/data/g"><input ref="/data/y"><label>Y costs $5, ${not a ref}</label></input><input ref="/data/g/x"><label>X</label></input></group>
<input ref="/data/t"><label>T</label></input>
<repeat nodeset="/data/rep"><input ref="/data/rep/x"><label>X</label></input></repeat>`
	rep := importXML(t, xform(`<s/><c/><fromrep/><g><x/></g><y/><t/><rep jr:template=""><x/></rep>`, model, body))
	if f := field(t, rep, "s"); f.Label.String() != "Long" {
		t.Errorf("s %s", fieldJSON(f))
	}
	if f := field(t, rep, "c"); f.Calculation != "jr:choice-name( ${s} , '${s}')" {
		t.Errorf("c %s", fieldJSON(f))
	}
	if f := field(t, rep, "t"); f.DefaultExpr != "now()" {
		t.Errorf("t %s", fieldJSON(f))
	}
	if f := field(t, rep, "y"); f.Label.String() != "Y costs $5, $ {not a ref}" {
		t.Errorf("y %s", fieldJSON(f))
	}
	wantReport(t, rep,
		`D /h:html/h:head/model/itext: 1 texts of form "short"`,
		`D /data/fromrep: choice "fromrep": its options come from "/data/rep", the form's own answers, which is not supported`,
		`A /h:html/h:body/group/input[1]: text "y" outside its data node's group: the body shows it in /data/g`,
		`A /data/y: "${" in the label: written as "$ {"`,
		`A /h:html/h:head/model/setvalue: <setvalue event="odk-instance-load" ref="/data/t">: computed once, when the record is made`,
		`D /data/g/x: relevant "count(/data/rep[x = 1]) > 0": the predicate of /data/rep[x = 1] is not supported`)
}

func TestTriggerNames(t *testing.T) {
	// A calculation triggered by a field whose name is not unique cannot name it.
	instance := `<g1><a/></g1><g2><a/></g2><when/>`
	body := `<group ref="/data/g1"><input ref="a"><label>A</label><setvalue event="xforms-value-changed" ref="/data/when" value="now()"/></input></group>
<group ref="/data/g2"><input ref="a"><label>A</label></input></group>`
	rep := importXML(t, xform(instance, ``, body))
	if f := field(t, rep, "when"); f.Type != form.TypeHidden || f.Calculation != "" {
		t.Errorf("when %s", fieldJSON(f))
	}
	wantReport(t, rep, `D /data/when: calculation "now()" when /data/g1/a changes: a trigger names a field by its name, and "a" is not unique in the form`)
}
