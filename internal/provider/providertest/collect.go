package providertest

import (
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/airgw/airgw/internal/llm"
)

// Result is what a client can read of an answer's first choice, in neutral
// terms, whether it came as a Response or as a Stream; the suite compares
// the two.
type Result struct {
	Text      string
	Thinking  string
	ToolCalls []llm.ToolCall // in index order
	Finish    llm.FinishReason
	// Usage is the usage reported, the last report of a stream;
	// UsageReported is false when there was none.
	Usage         llm.Usage
	UsageReported bool
	// Events counts a stream's events; 0 for a Response.
	Events int
}

// ResultOf reads the first choice of r.
func ResultOf(r *llm.Response) Result {
	var res Result
	if len(r.Choices) > 0 {
		m := &r.Choices[0].Message
		for _, p := range m.Content {
			switch p.Type {
			case llm.PartText:
				res.Text += p.Text
			case llm.PartThinking:
				res.Thinking += p.Text
			}
		}
		res.ToolCalls = slices.Clone(m.ToolCalls)
		res.Finish = r.Choices[0].FinishReason
	}
	res.Usage, res.UsageReported = r.Usage, r.UsageReported
	return res
}

// Collect reads s to its end and closes it, returning what the first
// choice said and the error that ended the stream (nil for a clean end).
// It checks the Stream contract on the way: a stream that ended keeps
// returning the same ending, and Close may be called more than once.
func Collect(t testing.TB, s llm.Stream) (Result, error) {
	t.Helper()
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Stream.Close() = %v, want nil", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Stream.Close() = %v, want nil", err)
		}
	}()
	var res Result
	calls := map[int]*llm.ToolCall{}
	var order []int
	for {
		ev, err := s.Next()
		if err != nil {
			for _, i := range order {
				res.ToolCalls = append(res.ToolCalls, *calls[i])
			}
			// io.EOF itself, not errors.Is: a classified error may wrap
			// io.EOF as its cause (a stream cut before its end).
			if err == io.EOF {
				if _, again := s.Next(); again != io.EOF {
					t.Errorf("Next() after io.EOF = %v, want io.EOF again", again)
				}
				return res, nil
			}
			if _, again := s.Next(); again == nil {
				t.Errorf("Next() after error %v = nil error, want the stream to stay ended", err)
			}
			return res, err
		}
		res.Events++
		if ev.Usage != nil {
			res.Usage, res.UsageReported = *ev.Usage, true // cumulative: the last report wins
		}
		if ev.Index != 0 {
			continue
		}
		res.Text += ev.Text
		res.Thinking += ev.Thinking
		for _, d := range ev.ToolCalls {
			tc, ok := calls[d.Index]
			if !ok {
				tc = &llm.ToolCall{}
				calls[d.Index] = tc
				order = append(order, d.Index)
			}
			if d.ID != "" {
				tc.ID = d.ID
			}
			if d.Name != "" {
				tc.Name = d.Name
			}
			tc.Arguments += d.Arguments
		}
		if ev.FinishReason != "" {
			res.Finish = ev.FinishReason
		}
	}
}

// asError returns err as a classified *llm.Error, failing the test when it
// is anything else.
func asError(t testing.TB, err error, what string) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s error = %T %v, want an *llm.Error", what, err, err)
	}
	if !e.Code.Known() {
		t.Fatalf("%s error code %q is not a published class", what, e.Code)
	}
	return e
}
