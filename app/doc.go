// Package app is Fieldforms' user interface, built with Fyne: its windows,
// screens and widgets.
//
// It holds no storage and no network code. What it needs from the local
// replica and from replication it declares here as small interfaces (Replica
// and Sync, in replica.go), which main.go satisfies with adapters over the
// store and sync packages; tests satisfy them with fakes (fakes_test.go).
//
// # Screens
//
// One file a screen, each a constructor from the window's shared env to a
// canvas object:
//
//	window.go     the main window: header, the list beside (or, on a narrow
//	              screen, under) the open screen, the sync bar; navigation and
//	              the app's lifecycle
//	home.go       search box and filters over records.go, the virtual list
//	recordview.go a record: values, attachments, procedures, history, Edit,
//	              Delete, Restore (attachments.go fetches photos and files)
//	templates.go  the template picker behind New form
//	formview*.go  filling in a form (NewFormView): one screen in files by
//	              concern (outline, rows, pages and navigation, language,
//	              saving, files); fields*.go are its inputs, one per type
//	syncbar.go    the always-visible sync status and the refused changes
//	settings.go   device name, enrolment, server; rebuild, export, verify
//
// The layout follows the window's width, not the device: from wideMin up the
// list and the open screen sit side by side, below it one shows at a time
// with a Back button. fyne.Device.IsMobile (true on an iPad) decides touch
// behaviour only: no keyboard shortcuts, and sync pauses in the background.
// Everything a finger taps is at least minTouch (44) units tall.
//
// # Threading
//
// Widget callbacks run on Fyne's UI goroutine, and so does everything that
// touches a screen's state. Reads and writes that may be slow run on their
// own goroutine through ui.background (bridge.go), the one place where
// background work meets the UI: their answers come back through fyne.Do, so
// a screen's state needs no locks and the UI never waits on the disk or the
// network. Tests replace fyne.Do with a queue they drain themselves.
package app
