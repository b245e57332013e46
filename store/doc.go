// Package store keeps a replica of a tenant's forms on disk: records, templates, the
// outbox of local changes, the audit trail, attachments and a search index. Devices
// use it for their local replica; the server uses it for each tenant.
//
// # Durability
//
// A save is acknowledged only when it is on disk. Saves are appended, as one framed
// and checksummed entry holding the new record, its outbox change and its audit entry,
// to a journal file and fsynced: one durable write a save, the least the disk allows.
// A background applier then moves journal entries into the bbolt database in batches;
// every read first waits for the entries saved before it, so reads always see every
// acknowledged save. On open, entries that were journalled but not yet applied are
// applied; a torn entry at the journal's end (a save that never returned) is dropped.
//
// Bulk work (applying pulled or pushed records, templates, outbox bookkeeping) goes
// straight to bbolt in one fsynced transaction per call.
//
// # Search
//
// Each record version gets a document number; its words go into immutable index
// segments, merged in the background of applies, so a search reads a few sorted term
// lists instead of every record.
//
// # Damage
//
// bbolt maps its file and trusts it: a cut file makes it read past the end of the
// mapping (SIGBUS), and a damaged page makes it panic. Open therefore checks the
// file with plain reads before bbolt maps it (both meta pages as bbolt validates
// them, the length against the high-water mark, the root and freelist pages), and
// every bbolt access runs under a guard that turns a panic or a memory fault into
// ErrDamaged: a *DamageError naming the file, what is wrong, where, and what to do
// (Options.DamageAdvice). After damage the store writes nothing more. A missing or
// empty replica.db beside a journal is damage too, not a new replica. Verify reads
// every page with plain reads before it runs bbolt's own check, and SalvageDB
// copies what a damaged file still holds into a new replica.
//
// # Caveats
//
//   - One process at a time: a second Open of the same folder fails with ErrInUse
//     after Options.LockTimeout instead of waiting for ever.
//   - Values returned are copies; nothing refers to bbolt's memory after a call.
//   - The audit chain proves that entries were not altered, inserted or dropped after
//     the fact; a party able to rewrite the whole chain can only be caught by
//     comparing with another replica's chain.
package store
