package server

import "testing"

// TestRequestIDsSortByTime: ids keep their format, are distinct, and sort
// in the order they were made (the audit trail's index takes them in
// order).
func TestRequestIDsSortByTime(t *testing.T) {
	prev := newRequestID()
	seen := map[string]bool{prev: true}
	for range 10000 {
		id := newRequestID()
		if len(id) != len("req_")+24 || seen[id] {
			t.Fatalf("newRequestID() = %q: malformed or repeated", id)
		}
		if id[:4+12] < prev[:4+12] {
			t.Fatalf("newRequestID() = %q after %q: its time sorts earlier", id, prev)
		}
		seen[id], prev = true, id
	}
}
