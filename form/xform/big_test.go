package xform

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form/xlsform"
)

// TestLargeForm imports a form of 2000 questions, each with a default and a rule
// the template check refuses: the import stays fast.
func TestLargeForm(t *testing.T) {
	var inst, model, body strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&inst, "<q%d>abc</q%d>", i, i)
		fmt.Fprintf(&model, `<bind nodeset="/data/q%d" type="int" relevant="pulldata('a','b','c','d')" required="true()"/>`, i)
		fmt.Fprintf(&body, `<input ref="/data/q%d"><label>Q%d</label></input>`, i, i)
	}
	start := time.Now()
	rep := importXML(t, xform(inst.String(), model.String(), body.String()))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	if len(rep.Template.Fields) != 2000 || len(rep.Dropped) != 4000 {
		t.Errorf("%d fields, %d dropped", len(rep.Template.Fields), len(rep.Dropped))
	}
}

// TestPathological reads documents made to be slow: text split by a million
// comments, a million elements, many repeat templates.
func TestPathological(t *testing.T) {
	for name, doc := range map[string]string{
		"comments":  xform(`<q/>`, ``, `<input ref="/data/q"><label>`+strings.Repeat("a<!---->", MaxFileSize/10)+`</label></input>`),
		"elements":  `<h:html xmlns:h="http://www.w3.org/1999/xhtml">` + strings.Repeat("<a/>", MaxFileSize/5),
		"templates": xform(strings.Repeat(`<r><x/></r><r jr:template=""><x/></r>`, 50000), ``, ``),
		"options":   xform(`<q/>`, ``, `<select ref="/data/q"><label>Q</label>`+strings.Repeat(`<item><label>A</label><value>a</value></item>`, 100000)+`</select>`),
	} {
		start := time.Now()
		_, err := Import(t.Context(), "f.xml", strings.NewReader(doc), xlsform.Options{})
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: %v", name, d)
		}
		t.Logf("%s: %d bytes, %v: %v", name, len(doc), time.Since(start), err)
	}
}
