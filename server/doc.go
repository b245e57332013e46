// Package server is the Fieldforms sync server: the HTTPS API of sync/wire over one
// store replica per tenant, the registry of tenants and devices, device credentials,
// and the local admin socket through which the fieldformsd commands reach a running
// server.
//
// # Identity and data
//
// A server keeps two folders apart. The config folder is its identity, kept safe like
// any secret: the TLS certificate and key (tls/cert.pem, tls/key.pem; a self-signed
// ECDSA P-256 certificate is made on first start when none is given), one signing key
// per tenant (keys/<tenant>.key, 32 random bytes) and the revocation list
// (revoked.json). The data folder holds what can be rebuilt: the registry
// (registry.db: tenants, devices with the hash of their credential, one-time enrolment
// secrets) and one store replica per tenant (tenants/<tenant>/).
//
// A device credential is signed with its tenant's key, so a server whose data folder
// was lost, started again with the same config, still recognises every enrolled,
// unrevoked device and registers it again on its first call. The tenant's store starts
// empty with a new epoch, which tells the devices to reconcile and push back what it
// lacks. Devices doing so at once share the work: the server leases each the ranges
// it sends and tells the others to skip or defer them (POST /v1/claim, share.go).
//
// # Tenants
//
// The tenant of a call comes only from its verified credential; nothing a client
// sends names a tenant. Each tenant's records live in their own bbolt file. A tenant's
// epoch (a random 128-bit value in the store's state, key "epoch") is made when its
// store is created empty, and the server's ledger for each device (the highest change
// sequence it holds from it, key "ledger/<device>") lives in the same file, so
// restoring the file rolls both back together.
//
// # Admin
//
// bbolt locks its files, so while a server runs, admin commands go through its admin
// socket (admin.sock in the data folder, mode 0600): one JSON request and one JSON
// answer per connection. When no server runs, the same operations open the files
// directly (see [Admin]).
//
// # Attachments
//
// With Options.Blob (serve --blob-endpoint URL --blob-account NAME, the key from
// $FIELDFORMS_BLOB_KEY only; the endpoint must be https), attachments live in Azure
// Blob Storage: one container per tenant ("ff-<tenant>", or "ff-" and a hash where the
// tenant's name is not a valid container name), created when first needed, and one
// blob per attachment named "sha256-<hex>" from the SHA-256 alone. The server hands out
// SAS URLs for single blobs (sr=b): create+write to upload, read to download, https
// only, at most wire.SASLifetime. On commit it takes an infinite lease on the blob (its
// ID derived from the tenant key, so it is secret and stable), then reads it whole and
// checks size and SHA-256; only then the tenant's store records it (state key
// "attachment/<sha>", with the blob's ETag). A blob that fails is deleted. A later call
// that finds the blob's ETag changed (a write SAS can break a lease) checks it again.
//
// # Roles
//
// Every route declares who may call it when it is registered (router.handle with
// roleDevice or roleAdmin, router.anyone for routes without a credential or data),
// and withRole checks it in one place: no credential, an unknown, superseded or
// revoked one is 401; a device on an admin route is 403 (invariant I11, tested by
// walking the route table and calling every route as every kind of caller).
//
// The audit trail names who made a pushed change from the verified credential (its
// user and device), never from the body: what a change claims (author, creator) is
// kept in the entry's note when it differs, and values made on other devices that a
// device gives back after a rebuild are noted "restored from device X; made by Y on
// device Z". A change that leaves a record submitted is checked against its template
// as a device checks it (required answers, constraints) and rejected alone otherwise.
//
// Publishing a template is for admins (fieldformsd template add|import, or an admin's
// device). Templates are handed out signed with the tenant key (HMAC-SHA256 over a
// domain prefix, the tenant, the ID, the version and the canonical JSON); a device that
// is not an admin's may only push back a version with a valid signature, which is how
// a server rebuilt with an empty data folder gets its templates back.
//
// # Admin API and purges
//
// Admin calls need a credential enrolled with --admin (403 otherwise): search with the
// Deleted criterion, a record with its history, restore (a change authored by the
// admin and their device, so it syncs and the audit trail names both), export (the
// store's ZIP, streamed), the audit trail and its chain check, and purges. A purge
// request and its approvals live in the registry (bucket "purges"); it runs when two
// admins, distinct by user name and neither the requester, approved it: its decision
// (notice: tenant, request, time, record IDs; and requester, approvers, reason),
// signed with the tenant key, is written to the purge log in the config folder
// (<config>/purges/<tenant>/<request>.json, atomically, fsynced), then
// store.ApplyPurgeNotice removes the data, keeps the notice and every audit entry and
// adds one per record naming the request, requester, approvers and reason. Every
// tenant store the server opens (a new process, a restore, a data folder rebuilt
// empty) first carries out every logged purge it lacks, records it does not hold
// included, and then gets a new epoch so devices reconcile; devices keep the notices
// (pull answers carry them) and give back, through POST /v1/purges, those a server
// lost with its log: only notices signed with the tenant key are taken (purgelog.go).
// Blobs no remaining record refers to are
// deleted; those that cannot be yet (no blob storage in this process) are listed in
// the request and deleted by the next serve (SweepPurgedBlobs). On the command line
// the operator names the admin with --user; it must be an admin user of the tenant.
//
// # Audit checkpoints
//
// Each tenant's audit trail is a Merkle tree (the store's AuditTree). The server signs
// checkpoints of it — origin fieldforms/<tenant>/<epoch>, size, root — as signed
// notes (golang.org/x/mod/sumdb/note) with an Ed25519 key derived from the tenant's
// key (HKDF-SHA256, checkpoint.go), and hands them to devices with consistency
// proofs (GET /v1/audit/checkpoint?from=N); enrolment gives devices the verifier key.
// The config folder keeps, per tenant, the latest checkpoint signed and the epochs
// the server made (checkpoints/<tenant>.json), so a tenant file cut, rewritten or put
// back while the server was down is caught when it opens (a log line while serving),
// by `fieldformsd audit --verify` and by the devices. A tenant whose epoch the server
// never made gets no checkpoint (409 audit_unverifiable); a cut or rewritten trail is
// signed as it is, devices that saw more catch it, and the record is never replaced
// by it. Backups record the checkpoint signed before their copy; their check proves
// the copy extends it. Devices send their own signed checkpoints
// (POST /v1/audit/device-checkpoint, devicecheckpoint.go): the server pins each
// device's key on first sight and keeps its latest checkpoint in the registry, and a
// device's trail found cut, rolled back or rewritten is logged, answered and listed
// (`fieldformsd device list`), then its new checkpoint is the one to extend.
//
// # Backups and health
//
// With Options.Backup.Dir (serve: --backup-dir, by default DATA-backups beside the
// data folder; never inside it) the server backs up every tenant store and the
// registry every Backup.Interval (RunBackups; `fieldformsd backup now` on demand):
// hot copies (bbolt Tx.WriteTo), gzip'd, with a manifest of sizes, SHA-256 (packed
// and unpacked), counts, epochs, time and version, in BACKUPDIR/ID and, with blob
// storage, in the container Backup.Container under backups/ID/ (see backup.go). A
// backup is good only once a test restore passed (restore.go): unpacked into a
// temporary folder, hashes and sizes as in the manifest, store.CheckDB, store.Open
// and store.Verify clean, counts, audit entries and epoch as in the manifest.
// Backups older than Backup.Retention go from both places, except the newest good.
//
// RestoreTenant (`fieldformsd restore`) checks a tenant's copy the same way, gives
// it a new epoch, carries out again every purge of the purge log it lacks,
// takes the tenant offline (tenants.setOffline: its calls get 503), swaps the files
// (the old database stays as replica.db.before-restore) and reopens it. Devices see
// the new epoch, reconcile and push back what they wrote after the backup.
//
// /readyz (Readiness) fails when a store does not answer, the newest good backup is
// older than Backup.MaxAge or blob storage does not answer; Ready, which systemd's
// watchdog follows, looks at the stores only. /metrics and /readyz name no device,
// and no tenant but one offline for damage (below).
//
// A tenant whose store is damaged (store.ErrDamaged: a cut file, a bad page, met at
// open or later) goes offline alone (tenants.markDamaged): its calls get 503
// tenant_offline, the log names it once, /readyz stays ready for the others and
// lists it in offline_tenants, /metrics has fieldforms_tenant_offline{tenant=...} 1,
// backups skip it, and Ready does not fail for it, so the watchdog never restarts
// the server over a file a restart cannot mend. A restore clears the mark.
//
// # Caveats
//
//   - One server per data folder: the registry is opened with a timeout and a second
//     server fails with a clear error instead of waiting.
//   - Revocation is by device and time: credentials of a device issued up to the
//     moment it was revoked are refused; enrolling the device again issues a new one.
//   - Requests and approvals of purges are in the registry and the log, not in the
//     tenant's audit trail: the store has no call to append such entries (the purge
//     entries' notes name them). The registry is in the data folder, so a lost data
//     folder loses pending requests.
//   - A purge that fails after store.Purge and before its orphaned blobs are listed
//     (a crash in between) leaves those blobs in storage, unreferenced.
//   - Backups keep purged records until they expire (Backup.Retention); a restore
//     purges them again from the purge log. A damaged purge log file keeps its
//     tenant from opening (the error names the file): a purge is never skipped.
//   - A config folder lost with its purge log and tenant keys cannot check the
//     devices' notices: purges are then known only to the devices that hold them.
//   - The second copy of backups lives in the attachments' storage account.
//   - A checkpoint catches a cut or rewrite only against a device, or a config
//     folder, that saw the trail before: a tenant file replaced by a new empty one
//     while the data folder is lost is a rebuild (the server makes a new epoch), as
//     when the disk really is lost; devices then push back what they hold.
//   - The pinned certificate fingerprint of enrolment codes is the leaf's: replacing
//     the certificate means enrolling the devices again unless it is CA-signed.
package server
