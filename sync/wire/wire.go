// Package wire is the Fieldforms replication protocol, version 1: the request and
// response bodies that devices and the server exchange over HTTPS, their limits, and
// the error codes. Both sides import it, so they cannot drift apart.
//
// # Transport
//
// HTTPS only, TLS 1.2 or later; JSON bodies, which may be compressed in both
// directions (Content-Encoding), with a limit of MaxBodyBytes after decompression.
//
// Request bodies: every server answer carries an Accept-Encoding header (RFC 9110
// §12.5.3) listing the encodings it reads in request bodies, RequestEncodings: "s2"
// (one block of the s2 block format of github.com/klauspost/compress/s2, not its
// framed stream: the block states its decompressed length first, so a server refuses
// an oversized body before inflating it) and "gzip". A client that saw s2 listed
// sends s2; one that did not (a server of an earlier release sends no such header)
// sends gzip, which every server reads. A body that inflates past MaxBodyBytes is
// refused with 413 too_large; a body that is not valid in its encoding with 400
// bad_request; an encoding the server does not list with 415.
//
// Answers: a client lists what it reads in Accept-Encoding ("s2, gzip"); the server
// prefers s2, then gzip, and compresses answers over 1 KiB. A client of an earlier
// release asks for gzip only and gets gzip.
//
// Every call but enrolment, health and
// metrics carries "Authorization: Bearer <token>", the credential enrolment returned.
//
// Every authenticated response carries the tenant's epoch and the server's ledger
// entry for the calling device, in headers (HeaderEpoch, HeaderAckedThrough) and,
// where the body has them, in Server. The epoch is made when a tenant's data is
// created and changes when it is lost or restored; a device that sees a new epoch, or
// an AckedThrough below what it knows the server acknowledged, reconciles.
//
// Every response's Date header is read from the server's clock; devices measure
// their own clock against it. A change whose stamps lie more than form.MaxClockSkew
// ahead of the server's clock is refused with clock_skew and nothing of it is
// applied, so the device may send it again, under the same change ID, with new
// stamps once its clock is right.
//
// # Endpoints
//
//	POST /v1/enroll                  EnrollRequest → EnrollResponse (no token: the code is the credential)
//	POST /v1/push                    PushRequest → PushResponse
//	GET  /v1/pull?cursor=C&limit=N[&revs=1] → PullResponse; 409 epoch_changed for a cursor of another epoch
//	POST /v1/reconcile               ReconcileRequest → ReconcileResponse
//	POST /v1/claim                   ClaimRequest → ClaimResponse (rebuilding devices share the work; see below)
//	POST /v1/records                 FetchRequest → FetchResponse (records by ID, after a reconcile)
//	GET  /v1/templates               → TemplatesResponse
//	POST /v1/templates               TemplatesPush → TemplatesPushResponse (admins publish; devices restore signed templates a rebuilt server lost)
//	POST /v1/attachments/prepare     PrepareAttachment → PrepareAttachmentResponse
//	POST /v1/attachments/commit      CommitAttachment → CommitAttachmentResponse
//	GET  /v1/attachments/{sha256}    → AttachmentURL (read-only, short-lived)
//	POST /v1/status                  DeviceStatus → StatusResponse (queue depth, for monitoring)
//	GET  /v1/purges?after=&limit=    → PurgeNotices (the tenant's signed purge notices; purge.go)
//	POST /v1/purges                  PurgeNoticesPush → PurgeNoticesResponse (notices a server lost)
//	GET  /v1/audit/checkpoint?from=N → CheckpointResponse (the tenant's signed audit checkpoint; checkpoint.go)
//	POST /v1/audit/device-checkpoint DeviceCheckpoint → DeviceCheckpointResponse (the device's own; checkpoint.go)
//
// Admin endpoints (the token's user must be an admin):
//
//	GET  /v1/admin/search?q=&template=&status=&deleted=live|deleted|all&from=&to=&offset=&limit= → SearchResponse
//	GET  /v1/admin/records/{id}      → RecordResponse (the record and its history)
//	POST /v1/admin/restore           RestoreRequest → RecordResponse
//	GET  /v1/admin/export            → application/zip
//	GET  /v1/admin/audit?record=&after=&limit=&verify=1 → AuditResponse
//	POST /v1/admin/purge/request     PurgeRequest → PurgeStatus
//	POST /v1/admin/purge/approve     PurgeApproval → PurgeStatus
//	GET  /v1/admin/purge             → PurgeList
//
// Attachments: prepare answers Exists for a blob the tenant holds, else an upload URL
// (a SAS for that one blob in the tenant's container: create+write, https only, valid
// from a minute ago until Expires, at most SASLifetime). After uploading with it, the
// device commits; the server reads the blob and checks size and SHA-256, and answers
// 409 upload_mismatch (the blob missing, or not what was declared, and then deleted):
// prepare and upload again. A download URL is a read-only SAS, given only for a blob
// the tenant committed (404 otherwise); the device checks the SHA-256 of what it reads.
// Without blob storage configured, attachment calls answer 503 unavailable.
//
// # Rebuilding a server from several devices
//
// After a reconcile a device knows which of its records the server lacks. Before
// sending them it splits them into ranges of record IDs (up to 64, of about equal
// count) and, for each in turn, sends its fingerprint of the range to POST /v1/claim:
//
//   - equal: the server already holds the range as the device does (another device
//     sent it); skip it.
//   - busy: another device holds a lease on an overlapping range; defer it.
//   - send: the range is leased to this device; push its records (as a reseed does),
//     then name the range in the next request's Done, which releases the lease.
//
// The device's first request of a rebuild sets Start, which drops any lease it still
// holds from an attempt that failed mid-way. When every range has been asked about
// once, the device asks again about those it
// deferred, until each is equal or leased to it, waiting a little between rounds. A
// lease lasts while its holder keeps calling: it expires 30 s (the server's
// ClaimLease) after the holder's last request, so the ranges of a device that dies
// mid-way are sent by the others. Leases are kept in the server's memory only and
// promise nothing: the merge is idempotent, and every device still sends every record
// it holds that the server lacks or holds in another version (I4); a range is
// skipped only when the server's fingerprint of it equals the device's. Purged
// records are refused as in any push.
//
// A device learns from the last claim request (no ranges, the last Done) the
// server's feed head. When the head moved, since the reconcile's Head, by exactly the
// number of records its pushes applied, no one else changed the server meanwhile, and
// the device continues pulling from that request's Cursor instead of catching up from
// the reconcile's (GET /v1/pull?revs=1 over everything it sent).
//
// Compatibility: a server of an earlier release answers POST /v1/claim with 404; the
// device then sends every record the server lacks and catches up as before. A device
// of an earlier release never claims: it sends everything, which the server merges.
//
// Admin: a purged record answers 410 purged (its audit entries remain, see audit
// ?record=). A purge request names records and a reason; it runs when two admins other
// than the requester, distinct from each other by user name, approve it (the
// requester's approval is 403; a repeated approval counts once; an approval of a done
// request by a new admin is 409). Devices learn of purges from PullResponse.Purged and
// keep the signed PullResponse.Notices; a push of a change to a purged record is
// rejected with CodePurged, and the device drops the record and the change.
//
// Unauthenticated and without data:
//
//	GET /healthz, GET /readyz, GET /metrics (Prometheus text format)
//
// # Rules the server enforces
//
//   - A pushed change's Device must be the calling device (403 forbidden otherwise);
//     a device pushing records it got from others (a reseed) sends them as its own
//     changes, the fields keeping their original stamps.
//   - The audit names the credential's user and device for a pushed change; a
//     change's Author is kept as a claim. A change that leaves a record submitted
//     must pass its template's check (required answers, constraints), else it is
//     rejected with code invalid.
//   - Only an admin's device publishes templates; others may only push back a
//     version with the signature GET /v1/templates gave (TemplatesPush.Signatures).
//   - GET /v1/pull's limit is from 1 to MaxPullRecords; outside, 400.
//   - Cursors are opaque and tamper-proof: they carry the epoch and the feed position
//     under a MAC of the tenant's key. Another tenant's cursor is 403 forbidden, an
//     earlier epoch's 409 epoch_changed.
//   - Reconcile answers are bounded: at most MaxReconcileItems sub-ranges (so the next
//     request fits), and enough (id, rev) items to list every small range of a full
//     request; a range that would overflow either is answered with a one-part Split
//     (itself), to be asked again.
//   - Unknown JSON fields and unknown query parameters are 400 bad_request: nothing a
//     client sends names a tenant, and a misspelt field is not silently ignored.
//
// # Push answers that move the cursor
//
// A device that pushes would otherwise pull its own changes straight back. So a push
// may carry the device's pull cursor in the HeaderCursor request header (a header,
// not a body field, so that a server of an earlier release, which refuses unknown
// fields, ignores it). A server that knows it answers each change that was not
// rejected with the record's rev after the merge (PushResult.Rev) and, when every
// feed entry after that cursor up to the feed's head is a record of this push at
// that rev (no other device's change, no purge in between), a cursor at the head
// (PushResponse.Cursor). A device whose own copies of those records hold exactly
// those revs takes the cursor as its pull cursor; otherwise (a rev differs: the
// server merged in another device's values, or the record changed here meanwhile)
// it keeps its own and pulls as before. A cursor the server cannot read (none,
// malformed, another epoch) only means no Cursor in the answer; the push is
// unaffected. Either side of an earlier release simply sends or reads neither.
//
// # Errors
//
// A failed call answers with an HTTP status and an Error body. 5xx, 429 and network
// errors are temporary: retry with backoff, honouring Retry-After. Other 4xx are
// permanent for that request. Within a push, each change has its own result, so one
// bad change is refused alone and the rest apply.
package wire

import (
	"encoding/json"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// Headers.
const (
	HeaderEpoch        = "Fieldforms-Epoch"
	HeaderAckedThrough = "Fieldforms-Acked-Through"
	HeaderTemplates    = "Fieldforms-Templates"
	HeaderRequestID    = "Fieldforms-Request-Id"
	// HeaderCursor, on a push, is the device's pull cursor: see "Push answers that
	// move the cursor" in the package doc.
	HeaderCursor = "Fieldforms-Cursor"
)

// RequestEncodings is what a server lists in its answers' Accept-Encoding header:
// the encodings it reads in request bodies, the one it prefers first.
const RequestEncodings = "s2, gzip"

// Limits. A server refuses a body or batch over them with 413 too_large.
const (
	MaxBodyBytes      = 32 << 20 // after decompression
	MaxPushChanges    = 5000
	MaxPullRecords    = 5000
	DefaultPullLimit  = 1000
	MaxReconcileItems = 4096 // ranges in a request, and sub-ranges in an answer (whose items may be more)
	MaxClaimRanges    = 256  // ranges, and done ranges, in a ClaimRequest
	MaxFetch          = 5000
	MaxTemplatesPush  = 500
	SASLifetime       = 15 * time.Minute
)

// Error codes.
const (
	CodeBadRequest      = "bad_request"      // malformed JSON, unknown fields, wrong types, bad parameters
	CodeUnauthorized    = "unauthorized"     // no, unknown, revoked or expired credential or code
	CodeForbidden       = "forbidden"        // authenticated, but not allowed (not an admin; another tenant's data)
	CodeNotFound        = "not_found"        // no such record, attachment or request
	CodeEpochChanged    = "epoch_changed"    // the cursor belongs to an earlier epoch: start over with a reconcile
	CodeTooLarge        = "too_large"        // body or batch over the limits
	CodeRateLimited     = "rate_limited"     // too many requests; see Retry-After
	CodeClockSkew       = "clock_skew"       // a stamp too far in the future
	CodeInvalid         = "invalid"          // values that break the template's rules
	CodeUnknownTemplate = "unknown_template" // a record for a template version the server lacks
	CodeConflict        = "conflict"         // e.g. a template version that exists with other content
	CodePurged          = "purged"           // the record was permanently deleted and cannot come back
	CodeDuplicate       = "duplicate"        // a change ID twice in one batch
	CodeUnavailable     = "unavailable"      // the server or a dependency is not ready; retry
	CodeTenantOffline   = "tenant_offline"   // the tenant's data is damaged and awaits a restore by an operator; retry later
	CodeUploadMismatch  = "upload_mismatch"  // attachment commit: the blob is missing, or its size or SHA-256 is not what was declared; prepare and upload again
	CodeInternal        = "internal"
)

// Error is the body of every failed response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Server is what every main response says about the server and the calling device.
type Server struct {
	Epoch        string    `json:"epoch"`
	AckedThrough uint64    `json:"acked_through"`
	Time         time.Time `json:"time"`
	// Templates is a tag of the tenant's template versions: a device fetches the
	// templates only when it changes, so a sync with nothing new is one request.
	Templates string `json:"templates,omitempty"`
}

// EnrollRequest redeems an enrolment code.
type EnrollRequest struct {
	Secret     string `json:"secret"`
	DeviceID   string `json:"device_id"` // the replica's own ID, which stamps its edits
	DeviceName string `json:"device_name,omitempty"`
}

// EnrollResponse is the device's credential. The token is shown once; the server keeps
// only its hash.
type EnrollResponse struct {
	Tenant   string `json:"tenant"`
	DeviceID string `json:"device_id"`
	User     string `json:"user"`
	Admin    bool   `json:"admin"`
	Token    string `json:"token"`
	// CheckpointKey is the note verifier key the tenant's audit checkpoints are
	// signed with (checkpoint.go); servers of an earlier release send none.
	CheckpointKey string `json:"checkpoint_key,omitempty"`
	Server        Server `json:"server"`
}

// PushChange is one outbox entry: the device's sequence number and the change.
type PushChange struct {
	Seq    uint64      `json:"seq"`
	Change form.Change `json:"change"`
}

// PushRequest sends outbox changes in order.
type PushRequest struct {
	Changes []PushChange `json:"changes"`
}

// Change outcomes.
const (
	StatusApplied   = "applied"
	StatusUnchanged = "unchanged"
	StatusDuplicate = "duplicate"
	StatusRejected  = "rejected"
)

// PushResult is the outcome of one change, in request order.
type PushResult struct {
	ID      string `json:"id"`
	Seq     uint64 `json:"seq"`
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`    // for rejected
	Message string `json:"message,omitempty"` // for rejected
	// Rev is the record's rev on the server after the change, for an applied or
	// unchanged change, and for a duplicate when the push carried a cursor (servers of
	// an earlier release send none).
	Rev string `json:"rev,omitempty"`
}

// PushResponse answers a push. AckedThrough in Server counts rejected changes as
// received; only one refused for clock_skew may come again, once the device's clock
// is right, with new stamps under the same change ID and sequence.
type PushResponse struct {
	Results []PushResult `json:"results"`
	// Cursor, when set, is a pull cursor at the feed's head: every feed entry between
	// the cursor the push carried (HeaderCursor) and it is a record of this push, at
	// the Rev its result names. Servers of an earlier release send none.
	Cursor string `json:"cursor,omitempty"`
	Server Server `json:"server"`
}

// PullResponse holds records changed after the cursor, in change order. With
// ?revs=1 it holds Items (each changed record's ID and rev) instead of Records: a
// device that has just pushed its whole replica catches up this way, fetching only
// the records whose rev differs from its own instead of receiving its own back.
type PullResponse struct {
	Records []form.Record `json:"records"`
	Items   []Item        `json:"items,omitempty"`
	Purged  []string      `json:"purged,omitempty"` // record IDs permanently deleted: drop local copies
	// Notices are the signed purge notices of the Purged IDs, for devices to keep
	// (servers of an earlier release send none).
	Notices []form.PurgeNotice `json:"notices,omitempty"`
	Cursor  string             `json:"cursor"` // pass back to continue
	More    bool               `json:"more"`
	// Remaining is about how many changes follow this page on the server's feed (at
	// most; several may be of one record), for a device to show how far a long pull
	// is; servers of an earlier release send none (0).
	Remaining int    `json:"remaining,omitempty"`
	Server    Server `json:"server"`
}

// Range is a half-open range of record IDs [From, To); "" is open at that end.
type Range struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Fingerprint summarises the (record ID, rev) pairs in a range.
type Fingerprint struct {
	Range
	Count int    `json:"count"`
	Hash  string `json:"hash"` // hex; see form-independent definition in Fingerprint docs of the store
}

// ReconcileRequest sends the device's fingerprints of some ranges. The first round
// sends one range covering everything.
type ReconcileRequest struct {
	Ranges []Fingerprint `json:"ranges"`
}

// Item is one record's ID and rev.
type Item struct {
	ID  string `json:"id"`
	Rev string `json:"rev"`
}

// RangeAnswer is the server's answer for one range: equal; or, when it holds few
// records there, their IDs and revs; or its fingerprints of sub-ranges, to be
// compared in the next round.
type RangeAnswer struct {
	Range
	Equal bool          `json:"equal,omitempty"`
	Items []Item        `json:"items,omitempty"`
	Split []Fingerprint `json:"split,omitempty"`
	Have  bool          `json:"have,omitempty"` // Items is the server's complete list for the range (possibly empty)
}

// ReconcileResponse answers every range of the request. Cursor is the server's feed
// position when the reconcile started: after fetching what it lacks, a device
// continues pulling from there.
//
// Head is that feed position as a number (servers of an earlier release send none):
// a device that pushed records after the reconcile compares it with ClaimResponse.Head
// to learn whether anyone else changed the server meanwhile.
type ReconcileResponse struct {
	Ranges []RangeAnswer `json:"ranges"`
	Cursor string        `json:"cursor"`
	Head   *uint64       `json:"head,omitempty"`
	Server Server        `json:"server"`
}

// ClaimRequest asks, for each range a rebuilding device is about to send, whether to
// send it, with the device's fingerprint of the range; Done names ranges this device
// was leased and has finished sending, which the server releases first; Start, on a
// device's first request of a rebuild, releases every lease it still holds from an
// earlier attempt. A request with no ranges only releases, and learns the feed head.
type ClaimRequest struct {
	Ranges []Fingerprint `json:"ranges"`
	Done   []Range       `json:"done,omitempty"`
	Start  bool          `json:"start,omitempty"`
}

// Claim answers.
const (
	ClaimSend  = "send"  // leased to the caller: send the range, then name it in Done
	ClaimEqual = "equal" // the server holds the range as the caller does: nothing to send
	ClaimBusy  = "busy"  // another device is sending an overlapping range: ask again later
)

// ClaimAnswer is the server's answer for one range of a ClaimRequest.
type ClaimAnswer struct {
	Range
	Answer string `json:"answer"`
}

// ClaimResponse answers every range of a ClaimRequest, in order. Head is the server's
// feed position when it answered and Cursor a pull cursor there.
type ClaimResponse struct {
	Ranges []ClaimAnswer `json:"ranges"`
	Head   uint64        `json:"head"`
	Cursor string        `json:"cursor"`
	Server Server        `json:"server"`
}

// FetchRequest asks for records by ID.
type FetchRequest struct {
	IDs []string `json:"ids"`
}

// FetchResponse returns the records the server holds of those asked for.
type FetchResponse struct {
	Records []form.Record `json:"records"`
	Server  Server        `json:"server"`
}

// TemplatesResponse lists every template version the tenant has. Signatures[i] is
// Templates[i]'s signature with the tenant key (base64url HMAC-SHA256 of the
// "fieldforms-template-v1" domain, the tenant, the template ID and version, and its
// canonical JSON): devices keep it and send it back with the template, and a server
// accepts a template from a device that is not an admin's only with it.
type TemplatesResponse struct {
	Templates  []json.RawMessage `json:"templates"`
	Signatures []string          `json:"signatures,omitempty"`
	Server     Server            `json:"server"`
}

// TemplatesPush sends template versions a device holds. An admin's device publishes
// with it; any other device may only return versions the tenant signed: Signatures,
// when given, has one entry per template ("" for none). An unsigned or wrongly signed
// template from a device that is not an admin's is rejected alone, with code
// forbidden; the rest of the push still applies.
type TemplatesPush struct {
	Templates  []json.RawMessage `json:"templates"`
	Signatures []string          `json:"signatures,omitempty"`
}

// TemplateResult is the outcome for one pushed template, in order.
type TemplateResult struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Status  string `json:"status"` // applied, unchanged, rejected
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// TemplatesPushResponse answers a templates push.
type TemplatesPushResponse struct {
	Results []TemplateResult `json:"results"`
	Server  Server           `json:"server"`
}

// PrepareAttachment announces an attachment a device wants to upload.
type PrepareAttachment struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`
}

// PrepareAttachmentResponse says the blob exists already, or gives a write-only SAS
// URL for that one blob, valid until Expires.
type PrepareAttachmentResponse struct {
	Exists    bool      `json:"exists"`
	UploadURL string    `json:"upload_url,omitempty"`
	Expires   time.Time `json:"expires,omitempty"`
	Server    Server    `json:"server"`
}

// CommitAttachment tells the server an upload finished; it checks the blob.
type CommitAttachment struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// CommitAttachmentResponse confirms the blob is present and verified.
type CommitAttachmentResponse struct {
	Present bool   `json:"present"`
	Server  Server `json:"server"`
}

// AttachmentURL is a read-only SAS URL for one blob.
type AttachmentURL struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
	Server  Server    `json:"server"`
}

// DeviceStatus reports a device's queue, for the operator's monitoring.
type DeviceStatus struct {
	Pending      int        `json:"pending"`
	DeadLetters  int        `json:"dead_letters"`
	OldestUnsent *time.Time `json:"oldest_unsent,omitempty"`
}

// StatusResponse acknowledges a status report.
type StatusResponse struct {
	Server Server `json:"server"`
}

// Summary is a record as admin search lists it.
type Summary struct {
	ID       string    `json:"id"`
	Template string    `json:"template"`
	Version  int       `json:"version"`
	Title    string    `json:"title"`
	Status   string    `json:"status"`
	Deleted  bool      `json:"deleted"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Rev      string    `json:"rev"`
}

// SearchResponse is one page of admin search.
type SearchResponse struct {
	Items  []Summary `json:"items"`
	Total  int       `json:"total"`
	Server Server    `json:"server"`
}

// AuditEntry is one line of a tenant's audit trail.
type AuditEntry struct {
	Seq    uint64      `json:"seq"`
	Time   time.Time   `json:"time"`
	Actor  string      `json:"actor"`
	Device string      `json:"device"`
	Action string      `json:"action"`
	Record string      `json:"record,omitempty"`
	Change string      `json:"change,omitempty"`
	Diff   []form.Diff `json:"diff,omitempty"`
	Note   string      `json:"note,omitempty"`
	Prev   string      `json:"prev"`
	Hash   string      `json:"hash"`
}

// RecordResponse is one record with its history.
type RecordResponse struct {
	Record  form.Record  `json:"record"`
	History []AuditEntry `json:"history"`
	Server  Server       `json:"server"`
}

// RestoreRequest brings back a deleted record.
type RestoreRequest struct {
	ID string `json:"id"`
}

// AuditResponse is a page of the audit trail, and the chain check when asked.
type AuditResponse struct {
	Entries  []AuditEntry `json:"entries"`
	Verified *bool        `json:"verified,omitempty"`
	Checked  int          `json:"checked,omitempty"` // entries the chain check walked
	Problem  string       `json:"problem,omitempty"`
	// TreeSize is the number of entries in the trail's Merkle tree and
	// CheckpointSize the size of the latest checkpoint the server signed of it in
	// this epoch (0: none yet), when the check ran.
	TreeSize       int64  `json:"tree_size,omitempty"`
	CheckpointSize int64  `json:"checkpoint_size,omitempty"`
	Server         Server `json:"server"`
}

// PurgeRequest asks for records to be deleted for good.
type PurgeRequest struct {
	Records []string `json:"records"`
	Reason  string   `json:"reason"`
}

// PurgeApproval approves a purge request.
type PurgeApproval struct {
	ID string `json:"id"`
}

// PurgeStatus describes a purge request. It runs when two admins other than the
// requester, distinct from each other, have approved it.
type PurgeStatus struct {
	ID        string   `json:"id"`
	Records   []string `json:"records"`
	Reason    string   `json:"reason"`
	Requester string   `json:"requester"`
	// RequesterDevice is the device the request came from ("fieldformsd" for the
	// server's command line).
	RequesterDevice string     `json:"requester_device,omitempty"`
	Requested       time.Time  `json:"requested"`
	Approvals       []Approval `json:"approvals"`
	Done            *time.Time `json:"done,omitempty"`
	// BlobsPending counts attachment blobs of purged records still to be deleted
	// from blob storage (a running server with blob storage deletes them).
	BlobsPending int `json:"blobs_pending,omitempty"`
	// Logged: the signed decision is kept in the server's purge log (its config
	// folder), so the purge is carried out again after a restore or a lost data
	// folder. A purge listed from the log alone (the data folder was lost) has no
	// request time and approvals' devices.
	Logged bool `json:"logged,omitempty"`
}

// Approval is one admin's approval.
type Approval struct {
	User   string    `json:"user"`
	Device string    `json:"device,omitempty"`
	Time   time.Time `json:"time"`
}

// PurgeList lists purge requests, newest first.
type PurgeList struct {
	Requests []PurgeStatus `json:"requests"`
	Server   Server        `json:"server"`
}
