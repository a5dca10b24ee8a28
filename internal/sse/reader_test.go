package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// ev is an Event with Data as a string, for comparisons.
type ev struct {
	Name, Data, ID string
}

// readAll reads every event from r until an error, returning the events and
// the terminal error.
func readAll(r *Reader) ([]ev, error) {
	var out []ev
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.Name, string(e.Data), e.ID})
	}
}

func TestReaderSpec(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ev
		err  error
	}{
		{"empty", "", nil, io.EOF},
		{"single", "data: hello\n\n", []ev{{"", "hello", ""}}, io.EOF},
		{"no-space", "data:hello\n\n", []ev{{"", "hello", ""}}, io.EOF},
		{"one-space-stripped", "data:  two\n\n", []ev{{"", " two", ""}}, io.EOF},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []ev{{"", "a", ""}, {"", "b", ""}}, io.EOF},
		{"cr", "data: a\r\rdata: b\r\r", []ev{{"", "a", ""}, {"", "b", ""}}, io.EOF},
		{"mixed-endings", "data: a\r\ndata: b\rdata: c\n\r\n", []ev{{"", "a\nb\nc", ""}}, io.EOF},
		{"multi-data", "data: a\ndata: b\ndata:\n\n", []ev{{"", "a\nb\n", ""}}, io.EOF},
		{"empty-data", "data\n\n", []ev{{"", "", ""}}, io.EOF},
		{"empty-data-colon", "data:\n\n", []ev{{"", "", ""}}, io.EOF},
		{"event-name", "event: ping\ndata: {}\n\n", []ev{{"ping", "{}", ""}}, io.EOF},
		{"name-reset", "event: a\ndata: 1\n\ndata: 2\n\n", []ev{{"a", "1", ""}, {"", "2", ""}}, io.EOF},
		{"no-data-no-dispatch", "event: a\n\ndata: 2\n\n", []ev{{"", "2", ""}}, io.EOF},
		{"comments", ": keep-alive\n:\ndata: x\n: inside\n\n: trailing", []ev{{"", "x", ""}}, io.EOF},
		{"id-persists", "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", []ev{{"", "a", "7"}, {"", "b", "7"}, {"", "c", ""}}, io.EOF},
		{"id-nul-ignored", "id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\n", []ev{{"", "a", "1"}, {"", "b", "1"}}, io.EOF},
		{"unknown-and-retry", "retry: 10\nfoo: bar\ndata: a\n\n", []ev{{"", "a", ""}}, io.EOF},
		{"field-no-colon-ignored", "dat\ndata: a\n\n", []ev{{"", "a", ""}}, io.EOF},
		{"colon-in-value", "data: a: b\n\n", []ev{{"", "a: b", ""}}, io.EOF},
		{"bom", "\xEF\xBB\xBFdata: a\n\n", []ev{{"", "a", ""}}, io.EOF},
		{"bom-only-first", "data: a\n\n\xEF\xBB\xBFdata: b\n\n", []ev{{"", "a", ""}}, io.EOF},
		{"truncated-no-blank", "data: a\n\ndata: b\n", []ev{{"", "a", ""}}, ErrTruncated},
		{"truncated-mid-line", "data: a\n\ndata: b", []ev{{"", "a", ""}}, ErrTruncated},
		{"truncated-event-only", "event: x\n", nil, ErrTruncated},
		{"truncated-crlf-half", "data: a\r\n\r", []ev{{"", "a", ""}}, io.EOF},
		{"comment-tail-clean", "data: a\n\n: bye", []ev{{"", "a", ""}}, io.EOF},
		{"blank-lines", "\n\n\r\n\rdata: a\n\n\n\n", []ev{{"", "a", ""}}, io.EOF},
		{"utf8", "data: héllo 世界\n\n", []ev{{"", "héllo 世界", ""}}, io.EOF},
		{"done", "data: [DONE]\n\n", []ev{{"", "[DONE]", ""}}, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(NewReader(strings.NewReader(tt.in)))
			if !errors.Is(err, tt.err) {
				t.Errorf("Next(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Next(%q) events mismatch (-want +got):\n%s", tt.in, diff)
			}
			// The same input one byte at a time gives the same result.
			got1, err1 := readAll(NewReader(iotest.OneByteReader(strings.NewReader(tt.in))))
			if !errors.Is(err1, tt.err) || !cmp.Equal(got, got1) {
				t.Errorf("one byte at a time: Next(%q) = %v, %v, want %v, %v", tt.in, got1, err1, got, err)
			}
		})
	}
}

func TestReaderLimits(t *testing.T) {
	long := "data: " + strings.Repeat("x", 100) + "\n\n"
	_, err := readAll(NewReaderSize(strings.NewReader(long), 50))
	if !errors.Is(err, ErrLineTooLong) {
		t.Errorf("Next(106-byte line, max 50) error = %v, want %v", err, ErrLineTooLong)
	}
	// An unterminated endless line fails without reading everything.
	endless := io.MultiReader(strings.NewReader("data: "), infinite('x'))
	_, err = readAll(NewReaderSize(endless, 1<<10))
	if !errors.Is(err, ErrLineTooLong) {
		t.Errorf("Next(endless line) error = %v, want %v", err, ErrLineTooLong)
	}
	many := strings.Repeat("data: 0123456789\n", 10) + "\n"
	_, err = readAll(NewReaderSize(strings.NewReader(many), 50))
	if !errors.Is(err, ErrEventTooLong) {
		t.Errorf("Next(10 data lines, max 50) error = %v, want %v", err, ErrEventTooLong)
	}
	ok := "data: " + strings.Repeat("x", 44) + "\n\n"
	got, err := readAll(NewReaderSize(strings.NewReader(ok), 50))
	if err != io.EOF || len(got) != 1 || len(got[0].Data) != 44 {
		t.Errorf("Next(50-byte line, max 50) = %d events, %v, want 1 event, EOF", len(got), err)
	}
}

type infinite byte

func (b infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)))
	got, err := readAll(r)
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Errorf("Next(stream then error) = %v, %v, want 1 event, %v", got, err, boom)
	}
	if _, err2 := r.Next(); !errors.Is(err2, boom) {
		t.Errorf("Next after error = %v, want sticky %v", err2, boom)
	}
}

// fixtureBody returns the body of a recorded HTTP response in testdata.
func fixtureBody(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatalf("ReadResponse(%s): %v", path, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of %s: %v", path, err)
	}
	return b
}

func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.http")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	m := make(map[string][]byte)
	for _, p := range paths {
		m[strings.TrimSuffix(filepath.Base(p), ".http")] = fixtureBody(t, p)
	}
	return m
}

// chunkReader returns its input in chunks whose sizes cycle through sizes.
type chunkReader struct {
	b     []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(c.sizes[c.i%len(c.sizes)], len(p), len(c.b))
	c.i++
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func TestReaderFixtures(t *testing.T) {
	for name, body := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			want, wantErr := refParse(body)
			got, err := readAll(NewReader(bytes.NewReader(body)))
			if err != wantErr {
				t.Fatalf("Next(%s) error = %v, want %v", name, err, wantErr)
			}
			if len(got) == 0 {
				t.Fatalf("Next(%s) = %d events, want at least one", name, len(got))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("Next(%s) mismatch with reference (-want +got):\n%s", name, diff)
			}
			// Split in two at every byte boundary.
			for k := 1; k < len(body); k++ {
				r := &chunkReader{b: body, sizes: []int{k, len(body)}}
				got, err := readAll(NewReader(r))
				if err != wantErr || !slices.Equal(want, got) {
					t.Fatalf("Next(%s split at %d) = %d events, %v; want %d events, %v", name, k, len(got), err, len(want), wantErr)
				}
			}
			// Chunks of 1..n bytes.
			for n := 1; n <= 13; n++ {
				r := &chunkReader{b: body, sizes: []int{n, 1, n + 2, 2}}
				got, err := readAll(NewReader(r))
				if err != wantErr || !slices.Equal(want, got) {
					t.Fatalf("Next(%s in chunks of %d) = %d events, %v; want %d events, %v", name, n, len(got), err, len(want), wantErr)
				}
			}
		})
	}
}

// TestReaderGeminiCRLF checks that \r\n\r\n separators (Gemini) produce the
// same events as the \n\n of the other providers.
func TestReaderGeminiCRLF(t *testing.T) {
	body := fixtureBody(t, "testdata/gemini-stream-text.http")
	if !bytes.Contains(body, []byte("\r\n\r\n")) {
		t.Fatal("fixture gemini-stream-text lost its \\r\\n\\r\\n separators")
	}
	crlf, err := readAll(NewReader(bytes.NewReader(body)))
	if err != io.EOF {
		t.Fatal(err)
	}
	lf, _ := readAll(NewReader(bytes.NewReader(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))))
	if diff := cmp.Diff(lf, crlf); diff != "" || len(crlf) != 3 {
		t.Errorf("Next(gemini CRLF) = %d events, differs from LF (-lf +crlf):\n%s", len(crlf), diff)
	}
}

// refParse is a deliberately naive reference implementation of the event
// stream interpretation algorithm, used to cross-check Reader.
func refParse(b []byte) ([]ev, error) {
	b = bytes.TrimPrefix(b, bom)
	var (
		out            []ev
		data, name, id string
		hasData        bool
		pending        bool
	)
	for {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			if pending || (len(b) > 0 && b[0] != ':') {
				return out, ErrTruncated
			}
			return out, io.EOF
		}
		line := string(b[:i])
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			i++
		}
		b = b[i+1:]
		switch {
		case line == "":
			pending = false
			if hasData {
				out = append(out, ev{name, data, id})
			}
			data, name, hasData = "", "", false
		case line[0] == ':':
		default:
			pending = true
			f, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch f {
			case "data":
				if hasData {
					data += "\n"
				}
				data += v
				hasData = true
			case "event":
				name = v
			case "id":
				if !strings.Contains(v, "\x00") {
					id = v
				}
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, body := range fixtures(f) {
		f.Add(body)
	}
	f.Add([]byte("data: a\r\n\r\rdata: b\n\nid: 1\nevent: x\ndata\n\n:c\n"))
	f.Add([]byte("\xEF\xBB\xBFdata: a\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := refParse(in)
		for _, sizes := range [][]int{{len(in) + 1}, {1}, {3, 1, 7}} {
			r := NewReaderSize(&chunkReader{b: in, sizes: sizes}, 1<<10)
			var got []ev
			var err error
			for {
				e, e2 := r.Next()
				if e2 != nil {
					err = e2
					break
				}
				if len(e.Data) > len(in) {
					t.Fatalf("Next returned %d bytes of data from %d bytes of input", len(e.Data), len(in))
				}
				got = append(got, ev{e.Name, string(e.Data), e.ID})
			}
			if errors.Is(err, ErrLineTooLong) || errors.Is(err, ErrEventTooLong) {
				continue
			}
			if err != wantErr || !cmp.Equal(want, got) {
				t.Fatalf("Next(%q, chunks %v) = %q, %v; reference = %q, %v", in, sizes, got, err, want, wantErr)
			}
		}
	})
}

func BenchmarkReader(b *testing.B) {
	body := fixtureBody(b, "testdata/openai-chat-stream-no-usage.http")
	br := bytes.NewReader(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(body)
		r := NewReader(br)
		for {
			if _, err := r.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
