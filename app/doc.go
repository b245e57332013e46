// Package app is Fieldforms' user interface, built with Fyne: its windows,
// screens and widgets.
//
// It holds no storage and no network code. What it needs from the local
// replica, and later from replication, it declares here as small interfaces
// (Replica), which main.go satisfies with adapters over the store and sync
// packages; tests satisfy them with fakes.
//
// # Threading
//
// Widget callbacks run on Fyne's UI goroutine, and so does everything that
// touches a screen's state. Reads that may be slow run on their own goroutine
// and hand their result back through fyne.Do, so a screen's state needs no
// locks and the UI never waits on the disk.
package app
