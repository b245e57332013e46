package store

import (
	"sync/atomic"
	"time"
)

// applyStage names a part of applying a batch of records or changes, for the stage
// times BenchmarkReplica prints when apply misses its target.
type applyStage int

const (
	stageLock       applyStage = iota // waiting for the writer and saves still journalled
	stageShape                        // shape of the record, stamps against the clock
	stageTemplate                     // template lookup, each value checked and made canonical
	stageSubmitted                    // a submitted record's required answers and constraints
	stageDiff                         // the audit diff of a new record
	stageEncode                       // canonical encoding and its SHA-256
	stageCompress                     // s2 of the stored value
	stageTerms                        // search terms
	stageTitle                        // the record's title
	stageWait                         // the transaction waiting for prepared records
	stageRecords                      // the transaction's record, metadata and index puts
	stageAudit                        // the batch's audit entry, its links and tree
	stageSegment                      // the batch's search index segment
	stageCheckpoint                   // the clock and the signed checkpoint
	stageCommit                       // bbolt's commit: pages written, one fsync
	numStages
)

var stageNames = [numStages]string{"lock", "shape", "template_check", "submitted_check", "diff", "encode",
	"compress", "terms", "title", "tx_wait_prepare", "tx_records", "tx_audit", "tx_segment",
	"tx_checkpoint", "commit"}

// stageTimer adds up the time each stage takes. The prepare stages run on every core,
// so theirs is summed over the workers.
type stageTimer struct{ ns [numStages]atomic.Int64 }

// applyTimer, when set (by benchmarks), times the stages of every apply.
var applyTimer atomic.Pointer[stageTimer]

// start returns now, or the zero time when no timer is set.
func (t *stageTimer) start() time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Now()
}

// mark adds the time since t0 to st and returns now.
func (t *stageTimer) mark(st applyStage, t0 time.Time) time.Time {
	if t == nil {
		return t0
	}
	now := time.Now()
	t.ns[st].Add(int64(now.Sub(t0)))
	return now
}
