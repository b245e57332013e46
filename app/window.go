package app

import (
	"context"
	"fmt"
	"log/slog"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Deps are what the UI uses from the rest of the program.
type Deps struct {
	// Replica is the device's local replica.
	Replica Replica
	// Sync is the replication engine; nil when the UI runs without one (tests).
	Sync Sync
	// Logger receives the UI's operational messages; nil discards them.
	Logger *slog.Logger
}

// NewMainWindow builds Fieldforms' main window: a header with the number of
// forms and the connection state, above the forms on this device, newest
// change first. It reads the first page of forms before it returns; ctx bounds
// every read the window makes.
func NewMainWindow(ctx context.Context, a fyne.App, d Deps) fyne.Window {
	w := a.NewWindow("Fieldforms")
	w.SetMaster()
	w.SetContent(newMainView(ctx, d).content)
	return w
}

// connection is the state of the link to the server. There is no server to
// reach until the device is enrolled, so it is offline.
const connection = "offline"

// mainView is the main window's content.
type mainView struct {
	records *recordList
	status  *widget.Label
	content fyne.CanvasObject
}

func newMainView(ctx context.Context, d Deps) *mainView {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &mainView{status: widget.NewLabel("")}
	v.records = newRecordList(ctx, d.Replica, log)
	v.records.onChange = v.showStatus
	v.showStatus()

	title := widget.NewRichText(&widget.TextSegment{Text: "Fieldforms", Style: widget.RichTextStyleSubHeading})
	tools := widget.NewToolbar(widget.NewToolbarAction(theme.ViewRefreshIcon(), v.records.reload))
	header := container.NewBorder(nil, nil, title, container.NewHBox(v.status, tools))
	v.content = container.NewBorder(container.NewVBox(header, widget.NewSeparator()), nil, nil, nil, v.records.view)
	return v
}

// showStatus shows how many forms there are and whether the device is online.
func (v *mainView) showStatus() {
	text := countText(v.records.total) + " · " + connection
	v.status.Importance = widget.MediumImportance
	if v.records.err != nil {
		text += " · some forms could not be read"
		v.status.Importance = widget.DangerImportance
	}
	v.status.SetText(text)
}

// countText says how many forms there are.
func countText(n int) string {
	switch n {
	case 0:
		return "No forms"
	case 1:
		return "1 form"
	default:
		return fmt.Sprintf("%d forms", n)
	}
}
