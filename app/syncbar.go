package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// lastSyncTick is how often "last sync 2 min ago" is brought up to date.
const lastSyncTick = 30 * time.Second

// syncBar is the always-visible line at the bottom of the window: whether the
// device reaches the server, what waits to be sent, when it last synced, the
// changes the server refused, and the progress of long work.
type syncBar struct {
	env  *env
	sync Sync

	// Touched on the UI goroutine only.
	status SyncStatus
	// updated is set by the first update from Subscribe, which is newer than
	// the answer of the first Status call, whenever that comes.
	updated   bool
	listeners []func(SyncStatus)

	icon     *widget.Icon
	state    *widget.Label
	message  *widget.Label
	pending  *widget.Label
	last     *widget.Label
	dead     *widget.Button
	deadBox  fyne.CanvasObject
	progress *widget.ProgressBar
	what     *widget.Label
	progRow  *fyne.Container
	view     fyne.CanvasObject

	deadList *deadLetterList // the open dead-letter dialog, if any
}

func newSyncBar(e *env) *syncBar {
	b := &syncBar{env: e, sync: e.d.Sync,
		icon: widget.NewIcon(theme.InfoIcon()), state: widget.NewLabelWithStyle("…", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		message: widget.NewLabel(""), pending: widget.NewLabel(""), last: widget.NewLabel(""),
		progress: widget.NewProgressBar(), what: widget.NewLabel("")}
	b.message.Truncation = fyne.TextTruncateEllipsis
	b.last.Importance = widget.MediumImportance
	b.dead = widget.NewButtonWithIcon("", theme.WarningIcon(), b.showDeadLetters)
	b.dead.Importance = widget.DangerImportance
	b.deadBox = touch(b.dead)
	setVisible(false, b.dead, b.deadBox)
	b.progress.TextFormatter = func() string {
		return fmt.Sprintf("%s of %s", thousands(int(b.progress.Value)), thousands(int(b.progress.Max)))
	}
	b.progRow = container.NewBorder(nil, nil, b.what, nil, b.progress)
	b.progRow.Hide()
	line := container.NewBorder(nil, nil, container.NewHBox(b.icon, b.state), container.NewHBox(b.pending, b.last, b.deadBox), b.message)
	b.view = container.NewVBox(widget.NewSeparator(), b.progRow, line)

	cancel := b.sync.Subscribe(func(st SyncStatus) {
		e.ui.do(func() {
			b.updated = true
			b.show(st)
		})
	})
	go func() {
		<-e.ui.ctx.Done()
		cancel()
	}()
	e.ui.background(func(context.Context) func() {
		st := b.sync.Status()
		return func() {
			if !b.updated {
				b.show(st)
			}
		}
	})
	e.ui.every(lastSyncTick, b.showLast)
	return b
}

// onStatus calls fn, on the UI goroutine, with every status the bar shows.
func (b *syncBar) onStatus(fn func(SyncStatus)) { b.listeners = append(b.listeners, fn) }

// show puts a status on the bar.
func (b *syncBar) show(st SyncStatus) {
	b.status = st
	state := st.State
	if state == "" {
		state = SyncStopped
	}
	b.state.SetText(strings.ToUpper(state[:1]) + state[1:])
	icon, importance := theme.InfoIcon(), widget.MediumImportance
	switch st.State {
	case SyncIdle:
		icon, importance = theme.ConfirmIcon(), widget.SuccessImportance
	case SyncSyncing, SyncRebuilding:
		icon = theme.ViewRefreshIcon()
	case SyncOffline, SyncNotEnrolled, SyncStopped:
		icon, importance = theme.WarningIcon(), widget.WarningImportance
	case SyncError:
		icon, importance = theme.ErrorIcon(), widget.DangerImportance
	}
	b.icon.SetResource(icon)
	b.state.Importance = importance
	b.state.Refresh()
	b.message.SetText(st.Message)

	switch st.Pending {
	case 0:
		b.pending.SetText("")
		b.pending.Hide()
	case 1:
		b.pending.SetText("1 change waiting to send")
		b.pending.Show()
	default:
		b.pending.SetText(thousands(st.Pending) + " changes waiting to send")
		b.pending.Show()
	}
	if st.DeadLetters > 0 {
		b.dead.SetText(fmt.Sprintf("%d refused", st.DeadLetters))
	}
	setVisible(st.DeadLetters > 0, b.dead, b.deadBox)
	if st.Total > 0 {
		what := st.ProgressWhat
		if what == "" {
			what = "Working"
		}
		b.what.SetText(strings.ToUpper(what[:1]) + what[1:] + pace(st.ProgressRate, st.ProgressLeft))
		b.progress.Max = float64(st.Total)
		b.progress.SetValue(float64(min(st.ProgressDone, st.Total)))
		b.progRow.Show()
	} else {
		b.progRow.Hide()
	}
	b.showLast()
	b.view.Refresh()
	for _, fn := range b.listeners {
		fn(st)
	}
	if b.deadList != nil && st.DeadLetters != len(b.deadList.items) {
		b.deadList.load()
	}
}

// pace says how fast long work goes and how long is left, when known: " · 8,200 a
// second · about 12 s left".
func pace(rate float64, left time.Duration) string {
	if rate <= 0 {
		return ""
	}
	out := " · " + thousands(int(rate+0.5)) + " a second"
	switch {
	case left <= 0:
	case left < time.Minute:
		out += fmt.Sprintf(" · about %d s left", max(1, int(left.Round(time.Second)/time.Second)))
	case left < time.Hour:
		out += fmt.Sprintf(" · about %d min left", int(left.Round(time.Minute)/time.Minute))
	default:
		h := int(left / time.Hour)
		out += fmt.Sprintf(" · about %d h %d min left", h, int((left-time.Duration(h)*time.Hour).Round(time.Minute)/time.Minute))
	}
	return out
}

// showLast says when the device last synced.
func (b *syncBar) showLast() {
	if b.status.State == SyncNotEnrolled {
		b.last.SetText("")
		return
	}
	b.last.SetText("Last sync " + ago(b.env.ui.now(), b.status.LastSuccess))
}

// ago says how long ago t was, in plain words.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < 2*time.Minute:
		return "1 min ago"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 2*time.Hour:
		return "1 hour ago"
	case d < 24*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d/time.Hour))
	}
	return "on " + t.Format("2006-01-02")
}

// showDeadLetters opens the list of changes the server refused.
func (b *syncBar) showDeadLetters() {
	l := newDeadLetterList(b.env, b.sync)
	d := dialog.NewCustom("Changes the server refused", "Close", l.view, b.env.w)
	d.SetOnClosed(func() { b.deadList = nil })
	d.Resize(fyne.NewSize(640, 420))
	b.deadList = l
	d.Show()
}

// deadLetterList shows the changes the server refused for good, each with its
// reason and a Retry, which puts it back in the queue.
type deadLetterList struct {
	env  *env
	sync Sync

	items   []DeadLetter
	errs    map[uint64]string // why a retry failed, by item
	list    *widget.List
	message *widget.Label
	view    fyne.CanvasObject
}

func newDeadLetterList(e *env, s Sync) *deadLetterList {
	l := &deadLetterList{env: e, sync: s, errs: map[uint64]string{}, message: wrapped(loadingText)}
	l.list = widget.NewList(func() int { return len(l.items) }, newDeadLetterRow, l.updateRow)
	intro := quiet("The server refused these changes. They stay on this device; the rest of the queue keeps moving. Retry sends one again, for example after its template reached the server.")
	l.view = container.NewBorder(container.NewVBox(intro, l.message), nil, nil, nil, l.list)
	l.load()
	return l
}

func (l *deadLetterList) load() {
	l.env.ui.background(func(ctx context.Context) func() {
		items, err := l.sync.DeadLetters(ctx)
		return func() {
			if err != nil {
				setMessage(l.message, "The refused changes could not be read: "+errText(err), widget.DangerImportance)
				return
			}
			l.items = items
			l.showState()
		}
	})
}

func (l *deadLetterList) showState() {
	if len(l.items) == 0 {
		setMessage(l.message, "Nothing refused: every change is in the queue or on the server.", widget.SuccessImportance)
	} else {
		setMessage(l.message, "", widget.MediumImportance)
	}
	l.list.Refresh()
}

type deadLetterRow struct {
	widget.BaseWidget
	title, reason *widget.Label
	retry         *widget.Button
}

func newDeadLetterRow() fyne.CanvasObject {
	r := &deadLetterRow{title: widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		reason: widget.NewLabel(""), retry: widget.NewButtonWithIcon("Retry", theme.ViewRefreshIcon(), nil)}
	r.title.Truncation = fyne.TextTruncateEllipsis
	r.reason.Truncation = fyne.TextTruncateEllipsis
	r.ExtendBaseWidget(r)
	return r
}

func (r *deadLetterRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil, nil, touch(r.retry), container.NewVBox(r.title, r.reason)))
}

func (l *deadLetterList) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	r := o.(*deadLetterRow)
	if id >= len(l.items) {
		return
	}
	item := l.items[id]
	r.title.SetText(fmt.Sprintf("Form %s · %s", shortID(item.Record), formatTime(item.Time)))
	if e, ok := l.errs[item.Seq]; ok {
		r.reason.Importance = widget.DangerImportance
		r.reason.SetText("Retry failed: " + e)
	} else {
		r.reason.Importance = widget.MediumImportance
		r.reason.SetText(item.Reason)
	}
	r.retry.OnTapped = func() { l.retry(item.Seq, r.retry) }
	r.retry.Enable()
}

// retry puts one refused change back in the queue.
func (l *deadLetterList) retry(seq uint64, b *widget.Button) {
	b.Disable()
	l.env.ui.background(func(ctx context.Context) func() {
		err := l.sync.RetryDeadLetter(ctx, seq)
		return func() {
			if err != nil {
				l.errs[seq] = errText(err)
				l.list.Refresh()
				return
			}
			delete(l.errs, seq)
			for i, it := range l.items {
				if it.Seq == seq {
					l.items = append(l.items[:i:i], l.items[i+1:]...)
					break
				}
			}
			l.showState()
		}
	})
}

// shortID is the start of a record ID, enough to tell records apart on screen.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
