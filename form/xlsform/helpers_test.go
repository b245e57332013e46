package xlsform

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xuri/excelize/v2"
)

// writeXLSX writes a workbook of the given sheets (rows of cells, the first row the
// header) and returns its path. The survey sheet comes first, the others by name.
func writeXLSX(t testing.TB, sheets map[string][][]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "form.xlsx")
	if err := saveXLSX(path, sheets); err != nil {
		t.Fatal(err)
	}
	return path
}

func saveXLSX(path string, sheets map[string][][]string) error {
	f := excelize.NewFile()
	defer f.Close()
	names := make([]string, 0, len(sheets))
	for name := range sheets {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "survey":
			return -1
		case b == "survey":
			return 1
		case a < b:
			return -1
		}
		return 1
	})
	for i, name := range names {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return err
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		for r, row := range sheets[name] {
			for c, v := range row {
				if v == "" {
					continue
				}
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if err := f.SetCellStr(name, cell, v); err != nil {
					return err
				}
			}
		}
	}
	return f.SaveAs(path)
}

// importSheets writes the sheets and imports them.
func importSheets(t testing.TB, sheets map[string][][]string, opts Options) (*Report, error) {
	t.Helper()
	return ImportFile(context.Background(), writeXLSX(t, sheets), opts)
}

// mustImport imports the sheets and fails the test on a refusal.
func mustImport(t testing.TB, sheets map[string][][]string, opts Options) *Report {
	t.Helper()
	rep, err := importSheets(t, sheets, opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return rep
}
