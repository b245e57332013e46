package xform

import (
	"fmt"
	"strings"
	"testing"
	"time"
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
