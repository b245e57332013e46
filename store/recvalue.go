package store

import (
	"fmt"

	"github.com/fieldforms/fieldforms/form"
	"github.com/klauspost/compress/s2"
)

// A record is kept in the records bucket as a format byte and its canonical encoding
// (form.Record.Encode) compressed as one s2 block. The rev stays the hash of the
// canonical bytes, so the wire, reconciliation and every other replica see the same
// record; decodeStored decompresses, then checks the bytes against the rev.
//
// A value that begins with '{' is the canonical encoding itself, as replicas of
// schema 2 and earlier stored it; it is still read, and convertRecordValue rewrites
// it when a file of that schema is converted.
//
// Measured on 10,000 records of the bench set (2,495 bytes each, canonical): s2
// 1,100 bytes (2.27×) at 234k records/s compressing, 651k/s decompressing, on one
// core; zstd 839 bytes (2.97×) at 52k/s and 145k/s. The apply path compresses every
// record it writes, so s2 keeps it far from the 50,000 records/s it must sustain.
// Per-field stamps are 3.4 % of the compressed bytes there (14 % when every field
// has its own stamp), not enough to earn an encoding of their own.
const (
	recValueS2 = 0x01 // then one s2 block of the canonical encoding
)

// maxRecordValue bounds a record's canonical encoding: a record larger than a
// journal frame was never saved, so a length above it is damage, not a record to
// allocate for.
const maxRecordValue = maxFrame

// packRecord returns a record's canonical encoding as the records bucket keeps it.
func packRecord(enc []byte) []byte {
	buf := make([]byte, 1+s2.MaxEncodedLen(len(enc)))
	buf[0] = recValueS2
	n := len(s2.Encode(buf[1:], enc))
	return buf[: 1+n : 1+n]
}

// unpackRecord returns the canonical encoding a stored record value holds, in
// either layout. The bytes returned may be v itself (old layout): the caller copies
// them before the transaction ends if it keeps them. It never panics on damaged
// input; the error wraps ErrCorrupt and says what is wrong.
func unpackRecord(v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: record value is empty", ErrCorrupt)
	}
	switch v[0] {
	case '{':
		return v, nil
	case recValueS2:
		n, err := s2.DecodedLen(v[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: record value of %d bytes: compressed length: %v", ErrCorrupt, len(v), err)
		}
		if n > maxRecordValue {
			return nil, fmt.Errorf("%w: record value of %d bytes claims %d bytes uncompressed, over the limit of %d", ErrCorrupt, len(v), n, maxRecordValue)
		}
		out, err := s2.Decode(nil, v[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: record value of %d bytes does not decompress: %v", ErrCorrupt, len(v), err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: record value of %d bytes begins with 0x%02x, not a record format", ErrCorrupt, len(v), v[0])
}

// CanonicalRecord returns the canonical encoding of a record value as a replica's
// records bucket holds it, in any layout this release reads: for tools and tests that
// read a replica file with bbolt directly. The bytes are a copy.
func CanonicalRecord(stored []byte) ([]byte, error) {
	b, err := unpackRecord(stored)
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && &b[0] == &stored[0] {
		b = append([]byte(nil), b...)
	}
	return b, nil
}

// decodeRecordValue decodes a stored record value without its metadata's rev to
// check it against: for salvage, where the metadata may be lost.
func decodeRecordValue(v []byte) (form.Record, error) {
	enc, err := unpackRecord(v)
	if err != nil {
		return form.Record{}, err
	}
	return form.DecodeRecord(enc)
}
