package wire

import "github.com/fieldforms/fieldforms/form"

// Purge notices (I10). Every replica keeps the signed notice of each purge:
//
//	GET  /v1/purges?after=&limit=   → PurgeNotices: the tenant's notices after a request ID
//	POST /v1/purges                 PurgeNoticesPush → PurgeNoticesResponse
//
// A device reads the server's notices and sends those it holds that the server lacks
// when it reconciles (after the server lost data); the server takes only notices
// signed with the tenant key. A push of a change to a purged record is rejected with
// CodePurged: the device drops the record and the change, and never sends it again.

// PurgeNotices is a page of the tenant's purge notices, in request order.
type PurgeNotices struct {
	Notices []form.PurgeNotice `json:"notices"`
	More    bool               `json:"more"` // ask again with after= the last request ID
	Server  Server             `json:"server"`
}

// PurgeNoticesPush sends purge notices a device holds (at most 100 a request).
type PurgeNoticesPush struct {
	Notices []form.PurgeNotice `json:"notices"`
}

// NoticeResult answers one notice of a push: applied (new to the server), unchanged,
// or rejected (its signature does not verify; Code and Message say why).
type NoticeResult struct {
	Request string `json:"request"`
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// PurgeNoticesResponse answers a PurgeNoticesPush, one result a notice.
type PurgeNoticesResponse struct {
	Results []NoticeResult `json:"results"`
	Server  Server         `json:"server"`
}
