// Package importrules holds no code, only a test: it enforces the import
// rules of DESIGN.md on the module's packages, so the layering (a pure
// domain in form, storage in store, replication in sync, the Fyne UI only in
// app and main) cannot erode one convenient import at a time.
//
// The rules are a table keyed by package path; a rule covers its package and
// the packages below it, unless a more specific rule names them. Packages
// that do not exist yet are skipped. Only non-test code is checked: tests
// may reach further (a sync test may start a server).
package importrules
