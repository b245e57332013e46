package store

import "fmt"

// convertRecordValue returns a record value of a file of schema `from` as the
// current layout stores it: the canonical encoding of schemas 1 and 2 compressed
// (recvalue.go). A value already in the current layout is returned as it is, after
// checking that it decompresses. A value that is neither is refused, naming the
// record, and the conversion stops. The bytes returned are the caller's own.
func convertRecordValue(from uint32, id, v []byte) ([]byte, error) {
	enc, err := unpackRecord(v)
	if err != nil {
		return nil, fmt.Errorf("record %s (schema %d): %w", id, from, err)
	}
	if v[0] != '{' {
		return append([]byte(nil), v...), nil
	}
	return packRecord(enc), nil
}
