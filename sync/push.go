package sync

import (
	"context"
	"fmt"
	"net/http"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// A rebuild pushes records as a pipeline: one goroutine reads batches of records'
// canonical bytes (store.CanonicalMany, no decoding) and writes each batch's push body
// directly (form.AppendChangeFrom, appendPushBody), while up to pushInFlight earlier
// batches are on the wire, over the one HTTP/2 connection. Answers are handled in
// the order the batches were read. Memory stays bounded: pushInFlight bodies on the
// wire, one ready, one being written, each at most pushBatchBytes.
const (
	// pushInFlight: requests on the wire at once. The server applies one batch while
	// the next ones arrive and the device writes more; beyond three the server's
	// queue only grows.
	pushInFlight = 3
	// pushBatchBytes bounds a batch's body before compression, far under
	// wire.MaxBodyBytes.
	pushBatchBytes = 8 << 20
)

// pushFigures are what the rebuilds in this process measured, for benchmarks: time
// spent reading and writing bodies, time waiting for answers (the server busy, the
// device with nothing more to send), time with nothing ready to send (the server
// waiting for the device), and batches sent.
var pushFigures struct {
	read, waitAnswer, waitRead, batches atomic.Int64
}

// pushBatchRecords is the records in a batch: twice the replicator's BatchChanges
// (1,000 by default), at most wire.MaxPushChanges.
func (r *Replicator) pushBatchRecords() int {
	return max(1, min(r.opts.BatchChanges*2, wire.MaxPushChanges))
}

// pushBatch is one request: the records it carries, in order, the change ID made
// for each, and the body.
type pushBatch struct {
	records []string
	changes []string
	body    []byte
	read    time.Duration // reading and writing it
}

type pushAnswer struct {
	resp wire.PushResponse
	err  error
}

// pushBody writes a PushRequest's body as json.Marshal writes it, change by change,
// straight from records' canonical bytes; every change has sequence 0, as records
// pushed whole have.
type pushBody struct {
	buf []byte
	n   int // changes written
}

// add appends the change that carries the record whose canonical bytes are canon.
func (p *pushBody) add(canon []byte, changeID, author, device string) error {
	if p.buf == nil {
		p.buf = append(make([]byte, 0, 64<<10), `{"changes":[`...)
	}
	n := len(p.buf)
	if p.n > 0 {
		p.buf = append(p.buf, ',')
	}
	p.buf = append(p.buf, `{"seq":0,"change":`...)
	var err error
	if p.buf, err = form.AppendChangeFrom(p.buf, canon, changeID, author, device); err != nil {
		p.buf = p.buf[:n]
		return err
	}
	p.buf = append(p.buf, '}')
	p.n++
	return nil
}

// finish returns the body; p is empty again.
func (p *pushBody) finish() []byte {
	b := append(p.buf, "]}"...)
	*p = pushBody{}
	return b
}

// pushRecords sends whole records as changes: the server merges them like any
// change, so pushing what it already has is harmless. It reads them in bounded
// batches and gives the replica's pages back after each (store.ReleaseMapped), so a
// device rebuilding a server holds a few batches of the file, not all of it. On the
// first error it stops: the batches still on the wire are cancelled and waited for,
// and what was not acknowledged is sent again by the next rebuild (the server merges
// idempotently).
func (r *Replicator) pushRecords(ctx context.Context, c *Client, ids []string, rep *Report) error {
	total := len(ids)
	if total == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan pushBatch, 1)
	var readErr error
	var reader gosync.WaitGroup
	reader.Go(func() {
		defer close(batches)
		readErr = r.preparePush(ctx, ids, batches)
	})
	type flight struct {
		b    pushBatch
		done chan pushAnswer
	}
	var queue []flight
	// stop cancels what is under way and waits for all of it: no goroutine outlives
	// pushRecords.
	stop := func(err error) error {
		cancel()
		for _, f := range queue {
			<-f.done
		}
		for range batches {
		}
		reader.Wait()
		return err
	}
	done := 0
	m := newMeter("sending records to the server", total, nil)
	handle := func(f flight) error {
		t0 := time.Now()
		a := <-f.done
		pushFigures.waitAnswer.Add(int64(time.Since(t0)))
		pushFigures.read.Add(int64(f.b.read))
		pushFigures.batches.Add(1)
		if a.err != nil {
			return a.err
		}
		if err := r.pushAnswered(ctx, f.b, a.resp, rep); err != nil {
			return err
		}
		done += len(f.b.records)
		rep.RecordsPushedByReconcile += len(f.b.records)
		r.update(func(s *Status) {
			s.Progress = m.at(done)
		})
		return nil
	}
	for {
		t0 := time.Now()
		b, ok := <-batches
		if len(queue) > 0 {
			pushFigures.waitRead.Add(int64(time.Since(t0)))
		}
		if !ok {
			break
		}
		if len(queue) == pushInFlight {
			f := queue[0]
			queue = queue[1:]
			if err := handle(f); err != nil {
				return stop(err)
			}
		}
		f := flight{b: b, done: make(chan pushAnswer, 1)}
		go func() {
			var a pushAnswer
			_, a.err = c.DoJSON(ctx, http.MethodPost, "/v1/push", nil, b.body, &a.resp)
			f.done <- a
		}()
		queue = append(queue, f)
	}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if err := handle(f); err != nil {
			return stop(err)
		}
	}
	reader.Wait()
	return readErr
}

// preparePush reads the records in batches and sends each batch's body on out,
// until all are read, ctx ends or a read fails.
func (r *Replicator) preparePush(ctx context.Context, ids []string, out chan<- pushBatch) error {
	per := r.pushBatchRecords()
	author, device := r.cred.User, r.st.Device()
	var b pushBatch
	var body pushBody
	emit := func() error {
		b.body = body.finish()
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		b = pushBatch{}
		return nil
	}
	for start := 0; start < len(ids); start += per {
		t0 := time.Now()
		recs, err := r.st.CanonicalMany(ctx, ids[start:min(start+per, len(ids))])
		r.releaseMapped()
		if err != nil {
			return err
		}
		for _, rec := range recs {
			cid := form.NewID()
			if err := body.add(rec.Bytes, cid, author, device); err != nil {
				return fmt.Errorf("record %s: %w", rec.ID, err)
			}
			b.records = append(b.records, rec.ID)
			b.changes = append(b.changes, cid)
			if body.n == per || len(body.buf) >= pushBatchBytes {
				b.read += time.Since(t0)
				if err := emit(); err != nil {
					return err
				}
				t0 = time.Now()
			}
		}
		b.read += time.Since(t0)
	}
	if body.n > 0 {
		return emit()
	}
	return nil
}

// pushAnswered handles the server's answer to one batch: refused records are
// logged, and a record refused as purged is dropped (refusedAsPurged). Results are
// matched to records by change ID, so an answer can never be read against the wrong
// batch's records.
func (r *Replicator) pushAnswered(ctx context.Context, b pushBatch, resp wire.PushResponse, rep *Report) error {
	if len(resp.Results) != len(b.records) {
		return fmt.Errorf("push: the server answered %d results for %d changes", len(resp.Results), len(b.records))
	}
	for i, res := range resp.Results {
		if res.ID != b.changes[i] {
			return fmt.Errorf("push: result %d is for change %q, not %q sent there", i, res.ID, b.changes[i])
		}
		if res.Status == wire.StatusApplied {
			rep.RecordsAppliedByReconcile++
		}
		if res.Status != wire.StatusRejected {
			continue
		}
		r.log.Warn("server refused a record while rebuilding", "record", b.records[i], "code", res.Code, "reason", res.Message)
		if res.Code == wire.CodePurged {
			if err := r.refusedAsPurged(ctx, b.records[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
