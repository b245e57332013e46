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
// applied; a torn entry at the journal's end (a save that never returned) is dropped,
// with a warning naming its offset and size.
//
// # Journal damage
//
// A torn last entry is the only loss allowed: that save was never acknowledged. Every
// other damage that may lose a save the database lacks makes Open fail with a
// *JournalDamage (ErrJournalDamaged, also ErrCorrupt): one line naming the file, the
// byte offset, what is wrong and how many saves are at stake, and changing nothing.
// Told apart from a torn write: a missing or shortened journal, a frame that runs into
// the end of the file, a zeroed or corrupt frame with valid frames of its generation
// after it (found by scanning past the damage), numbers that skip a save, a journal
// that begins after the database's last save, an unreadable header. Damage confined
// to saves the database already holds is logged and harmless, and so is any damage to
// the journal of a replica closed cleanly (Close marks the database when everything is
// applied; the next open clears the mark). A database alone in a folder never opened
// as a replica is a restored copy and needs no journal. Repair recovers the valid
// frames, sets the damaged file aside, reports exactly the saves it could not recover
// and makes a full reconcile with the server due.
//
// Merged batches (ApplyChanges on a server's push, ApplyRecords on a pull) and the
// sync engine's state (SetState) are journalled the same way: a batch is merged against
// bbolt and the records journalled but not yet applied, then appended as one frame
// (records as stored, its change IDs, its one audit entry) and acknowledged; the
// applier writes many frames per transaction. Other bulk work (templates, outbox
// bookkeeping, purges) goes straight to bbolt in one fsynced transaction per call.
//
// # Purges
//
// Purge and ApplyPurgeNotice remove records for good: data, index entries, pending
// changes, dead letters, attachments no other record uses. Every audit entry stays
// and one more a record says so. The IDs are remembered (bucket "purged"), so a
// record that arrives later, or an edit, is refused with ErrPurged; the notice that
// ordered it is kept (bucket "purgenotices", made when a replica of an earlier
// release is opened), and a notice can name records the replica never held.
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
// # Size
//
// A record is stored as a format byte and its canonical encoding compressed with s2
// (recvalue.go): the rev stays the hash of the canonical bytes, which every read
// checks after decompressing, and a value of the earlier layout (the canonical JSON
// itself, as files of schema 2 and journal frames hold it) still reads. Each bucket
// fills its pages as far as its keys allow (fill.go), and a batch of pulled records
// is written in ID order.
//
// # Memory
//
// bbolt reads through a shared, read-only map of the file, and the kernel maps a run
// of pages around each page read; a read over much of the file (a rebuild, a deep
// list, a search) would leave the process resident at the file's size. ReleaseMapped
// gives those pages back to the page cache (madvise on Linux); the sync engine calls
// it after each batch it reads or applies, the app after each read of its list, and a
// search between reading term lists and the docs bucket.
//
// # Caveats
//
//   - One process at a time: a second Open of the same folder fails with ErrInUse
//     after Options.LockTimeout instead of waiting for ever.
//   - Values returned are copies; nothing refers to bbolt's memory after a call.
//   - Without a Checkpointer, verification checks only what the file holds: a party
//     able to rewrite the whole trail and its tree is caught only by comparing with a
//     checkpoint kept elsewhere (another replica's, the server's).
//
// # Audit trail
//
// The audit trail is append-only and tamper-evident, and kept by reference: an entry
// is one save, or one batch (a pull, a push, a purge) with an item per record change
// (who, which device, action, record, change ID, the record's rev after it, and each
// changed field's value BEFORE the change with the new value's stamp), compressed
// with s2. A change's new value is not copied: History and Audit take it from the
// next change of that field, or from the record as it is (auditformat.go). Entries
// of earlier releases (JSON with full copies, chained by Prev/Hash) still read and
// verify, and today's journal frames still replay.
//
// A purge removes a record's values and keeps every audit entry: no leaf depends on
// a record's stored value, so the trail verifies after a purge, and the purged
// record's history keeps who, when and each change's earlier values, but the
// values it held last are gone with it (null in History).
//
// Its entries are the leaves of a
// Merkle tree (golang.org/x/mod/sumdb/tlog, as Go's checksum database): leaf i is
// entry i+1, its hash tlog.RecordHash of the entry's canonical bytes, and the stored
// hashes are written in the transaction that writes the entries (bucket "audittree";
// a file without them gets them when opened). AuditTree, AuditTreeProof and
// AuditLeafHash give witnesses the tree's root, consistency proofs and leaves.
//
// With Options.Checkpoint, the tree is signed (a note with an Ed25519 key: a device's
// own under DefaultKeyDir, the tenant's on a server) after applied batches, at most
// every CheckpointEvery, and at Close; the latest checkpoint is kept in the replica
// and handed to the signer to keep apart. Audit numbers are never used twice: after
// a cut the next entry follows the highest number the tree or a checkpoint has seen;
// the tree then stays at the cut, no checkpoint is signed below one signed before,
// and verification names the cut until the replica is repaired or replaced.
// VerifyAudit (and Verify) name the first problem: an entry altered, missing or
// unreadable; a tree whose hashes are not those of its leaves; a trail cut below its
// tree or a checkpoint ("audit cut: the trail ends at entry N but ... is signed at
// M"), which a file rolled back to an older copy is too; a trail rewritten, hashes
// and tree recomputed, or reordered ("audit rewritten"); a checkpoint another key
// signed ("checkpoint signature invalid"); a record's history listing another
// record's entry; a record whose rev is not the one its latest entry records (a
// record value changed outside the trail). A snapshot the user restores
// (RestoreSnapshot) is a roll-back the trail records (action "rollback"), not a cut.
// Each entry records the rev its change left (Rev; entries of earlier releases have
// none), and a Restamp, which changes revs, adds an entry per record.
package store
