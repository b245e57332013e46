package xform

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/xlsform"
)

// FuzzImport checks that no document makes Import panic, and that what it accepts
// is a valid template and what it refuses is an *Error (or a read error).
func FuzzImport(f *testing.F) {
	f.Add(xform(`<q/>`, `<bind nodeset="/data/q" type="int" relevant="/data/q &gt; 1"/>`, `<input ref="/data/q"><label>Q</label></input>`))
	f.Add(xform(`<state/><city/>`, cascade, `<select1 ref="/data/state"><label>S</label><itemset nodeset="instance('states')/root/item"><value ref="name"/><label ref="label"/></itemset></select1>
<select1 ref="/data/city"><label>C</label><itemset nodeset="instance('cities')/root/item[state = current()/../state]"><value ref="name"/><label ref="label"/></itemset></select1>`))
	f.Add(xform(`<n/><r jr:template=""><x/></r><meta><instanceID/><instanceName/></meta>`,
		`<bind nodeset="/data/meta/instanceID" jr:preload="uid"/><bind nodeset="/data/meta/instanceName" calculate="concat('a', /data/n)"/><setvalue event="odk-instance-first-load" ref="/data/n" value="2"/>`,
		`<input ref="/data/n"><label>N <output value="/data/n"/></label></input><repeat nodeset="/data/r" jr:count="/data/n"><input ref="x"><label>X</label><setvalue event="xforms-value-changed" ref="/data/n" value="now()"/></input></repeat>`))
	f.Add(`<h:html xmlns:h="http://www.w3.org/1999/xhtml"><h:head><model><instance><d><a/></d></instance></model></h:head></h:html>`)
	f.Add("not xml")
	files := fstest.MapFS{"f.csv": {Data: []byte("name,label\na,A\n")}}
	f.Fuzz(func(t *testing.T, doc string) {
		rep, err := Import(context.Background(), "fuzz.xml", strings.NewReader(doc), xlsform.Options{Files: files})
		if err != nil {
			var xe *Error
			if !errors.As(err, &xe) {
				t.Fatalf("%v (%T) is not an *Error", err, err)
			}
			return
		}
		if _, err := form.ParseTemplate(rep.Template.Encode()); err != nil {
			t.Fatalf("the template does not parse again: %v", err)
		}
		_ = rep.Text()
	})
}
