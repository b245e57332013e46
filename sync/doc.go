// Package sync is the device side of replication: it pushes a replica's outbox to the
// server, pulls what others changed, and — when the server lost data or was restored
// from an older backup — reconciles and pushes back whatever the server lacks.
//
// A Replicator runs the loop: it wakes on a local save, pulls on a schedule, and on
// temporary failures (network errors, 5xx, 429) retries with exponential backoff that
// never gives up and honours Retry-After. A change the server refuses for good (a 4xx
// for that change alone) goes to the replica's dead-letter list with the server's
// reason, and the rest keep flowing. A change the server refuses because its record
// was purged is not a dead letter: the record and the change are dropped (purge.go).
//
// Purges (I10): the server sends, with purged IDs, their signed purge notices; the
// replica drops the records and keeps the notices, and never sends those IDs again.
// When it reconciles, it first reads the server's notices and gives back those the
// server lost.
//
// Several devices rebuilding one server at once share the work (share.go): each
// sends what the server lacks in ranges, asking the server first, and skips a range
// another device already sent; a range another device is sending it asks about again
// at the end, and sends itself if that device's lease lapsed.
//
// A change refused for clock skew is held, not lost: the replicator measures the
// device's clock against the server's Date header, says in the status how far ahead
// it is, does not send held changes again while it is wrong, and once it agrees with
// the server's has the replica stamp them anew (store.Restamp) and sends them
// (clockheal.go).
//
// Devices witness the server's audit trail (witness.go): after each sync the
// replicator checks the tenant's signed checkpoint and a consistency proof against
// the last checkpoint it kept; a cut, rewritten or replaced trail or a forged
// checkpoint is reported (Report.AuditAlarm, Status.Audit, a log line), the old
// checkpoint stays as evidence and records keep syncing; a new epoch starts a new
// chain and is reported as a restore.
//
// A rebuild (reconcile, Reseed) sends the records the server lacks as stored: their
// canonical bytes, checked against their revs, are spliced into changes and into the
// push body without decoding them, and a few batches are on the wire while the next
// are read (push.go). Request bodies are compressed as the server reads best: s2 to
// a server that lists it in Accept-Encoding, gzip to one of an earlier release,
// nothing to a server on this machine, where compressing spends both sides' CPU to
// save no network (BenchmarkRebuildInProcess, 20,000 records on 127.0.0.1 on a loaded
// two-core machine: 5.3 and 13.0 s uncompressed, 7.0 and 11.5 s in s2; within the
// noise, and the CPU saved is certain). See the wire package.
//
// It talks HTTPS only: a credential whose URL is not https is refused, and the only
// certificates trusted are the system's roots and, for a self-signed server, the one
// certificate the enrolment code carried.
package sync
