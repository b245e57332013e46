package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"fyne.io/fyne/v2"
)

// ui is the one place where background work meets the UI. Every screen of a
// window shares one: reads, saves and fetches run on their own goroutines
// through background, and their answers come back to the UI goroutine through
// do. Tests replace do with a queue they drain on the test goroutine (Fyne's
// test driver would run fyne.Do at once on the calling goroutine, alongside
// the test's own calls into the widgets), every with nothing, and now with a
// fixed clock.
type ui struct {
	ctx context.Context
	log *slog.Logger

	// do runs fn on the UI goroutine.
	do func(fn func())
	// every runs fn on the UI goroutine every d until stop is called or ctx
	// ends.
	every func(d time.Duration, fn func()) (stop func())
	// now reads the clock, for "2 min ago".
	now func() time.Time

	// work tracks background work until its answer has been handed to do.
	work sync.WaitGroup
}

// newUI makes the bridge of a window; do is fyne.Do unless given.
func newUI(ctx context.Context, log *slog.Logger, do func(func())) *ui {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if do == nil {
		do = fyne.Do
	}
	u := &ui{ctx: ctx, log: log, do: do, now: time.Now}
	u.every = func(d time.Duration, fn func()) func() {
		t := time.NewTicker(d)
		stop := make(chan struct{})
		var once sync.Once
		go func() {
			defer t.Stop()
			for {
				select {
				case <-t.C:
					u.do(fn)
				case <-stop:
					return
				case <-ctx.Done():
					return
				}
			}
		}()
		return func() { once.Do(func() { close(stop) }) }
	}
	return u
}

// background runs work on its own goroutine. The function work returns, when
// not nil, then runs on the UI goroutine: it is where the answer is shown.
// work must not touch widgets.
func (u *ui) background(work func(ctx context.Context) func()) {
	u.work.Go(func() {
		if show := work(u.ctx); show != nil {
			u.do(show)
		}
	})
}
