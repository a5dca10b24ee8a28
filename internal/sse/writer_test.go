package sse

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteEvent(t *testing.T) {
	tests := []struct {
		name, event, data, want string
	}{
		{"plain", "", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"named", "message_start", `{}`, "event: message_start\ndata: {}\n\n"},
		{"empty-data", "ping", "", "event: ping\ndata: \n\n"},
		{"multi-line", "", "a\nb\r\nc\rd", "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"trailing-newline", "", "a\n", "data: a\ndata: \n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteEvent(&buf, tt.event, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("WriteEvent(%q, %q) = %q, want %q", tt.event, tt.data, got, tt.want)
			}
			// Round trip: the reader gets the data back with line breaks
			// normalised to "\n".
			e, err := NewReader(&buf).Next()
			want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(tt.data)
			if err != nil || e.Name != tt.event || string(e.Data) != want {
				t.Errorf("Next(WriteEvent(%q, %q)) = %q %q, %v, want %q %q", tt.event, tt.data, e.Name, e.Data, err, tt.event, want)
			}
		})
	}
	if err := WriteEvent(io.Discard, "a\nb", nil); !errors.Is(err, ErrBadName) {
		t.Errorf("WriteEvent(name with newline) = %v, want %v", err, ErrBadName)
	}
}

func TestWriteComment(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteComment(&buf, "keep\nalive"); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), ": keep alive\n\n"; got != want {
		t.Errorf("WriteComment = %q, want %q", got, want)
	}
}

type plainWriter struct{ bytes.Buffer }

type flushWriter struct {
	bytes.Buffer
	flushed int
}

func (f *flushWriter) Flush() { f.flushed++ }

func TestFlush(t *testing.T) {
	rec := httptest.NewRecorder()
	SetHeaders(rec.Header())
	if err := WriteEvent(rec, "", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := Flush(rec); err != nil || !rec.Flushed {
		t.Errorf("Flush(recorder) = %v, flushed %v; want nil, true", err, rec.Flushed)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("SetHeaders Content-Type = %q", ct)
	}
	fw := &flushWriter{}
	if err := Flush(fw); err != nil || fw.flushed != 1 {
		t.Errorf("Flush(http.Flusher) = %v, flushed %d; want nil, 1", err, fw.flushed)
	}
	if err := Flush(&plainWriter{}); !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("Flush(plain writer) = %v, want %v", err, http.ErrNotSupported)
	}
}

func BenchmarkWriteEvent(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hello"}}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteEvent(io.Discard, "", data); err != nil {
			b.Fatal(err)
		}
	}
}
