package bedrocktest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	wire "github.com/airgw/airgw/internal/wire/bedrock"
)

//go:embed testdata/*.http testdata/*.frames.jsonl
var fixtureFS embed.FS

// FixtureNames returns the names of the recorded responses the Server can
// replay ("converse-basic", "converse-stream-text", ...).
func FixtureNames() []string {
	ents, _ := fixtureFS.ReadDir("testdata")
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".http"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// LoadFixture returns the recorded status, headers and body of the named
// fixture. A body stored as base64 (X-Fixture-Body-Encoding: base64, the
// binary event streams) is returned decoded, without that header.
func LoadFixture(name string) (status int, header http.Header, body []byte, err error) {
	raw, err := fixtureFS.ReadFile(path.Join("testdata", name+".http"))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("bedrocktest: no fixture %q", name)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("bedrocktest: fixture %s: %w", name, err)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("bedrocktest: fixture %s: %w", name, err)
	}
	if resp.Header.Get("X-Fixture-Body-Encoding") == "base64" {
		resp.Header.Del("X-Fixture-Body-Encoding")
		body, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		if err != nil {
			return 0, nil, nil, fmt.Errorf("bedrocktest: fixture %s: base64 body: %w", name, err)
		}
	}
	return resp.StatusCode, resp.Header, body, nil
}

// Frame is one decoded event stream message of a fixture's .frames.jsonl.
type Frame struct {
	Headers map[string]string `json:"headers"`
	Payload json.RawMessage   `json:"payload"`
}

// LoadFrames returns the decoded frames recorded beside a streaming
// fixture.
func LoadFrames(name string) ([]Frame, error) {
	raw, err := fixtureFS.ReadFile(path.Join("testdata", name+".frames.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("bedrocktest: no frames for %q", name)
	}
	var out []Frame
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var f Frame
		if err := json.Unmarshal(line, &f); err != nil {
			return nil, fmt.Errorf("bedrocktest: frames %s: %w", name, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// SplitFrames splits an event stream body at its frame boundaries, using
// each frame's declared total length.
func SplitFrames(body []byte) ([][]byte, error) {
	var out [][]byte
	for len(body) > 0 {
		if len(body) < 4 {
			return nil, fmt.Errorf("bedrocktest: %d trailing bytes", len(body))
		}
		n := int(binary.BigEndian.Uint32(body))
		if n < 16 || n > len(body) {
			return nil, fmt.Errorf("bedrocktest: frame length %d with %d bytes left", n, len(body))
		}
		out = append(out, body[:n])
		body = body[n:]
	}
	return out, nil
}

// serveFixture replays a fixture; event stream bodies are written one
// frame at a time with a flush after each, as Bedrock streams them.
func (s *Server) serveFixture(w http.ResponseWriter, idx int, name string) error {
	status, h, body, err := LoadFixture(name)
	if err != nil {
		return err
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	if w.Header().Get("X-Amzn-Requestid") == "" {
		w.Header().Set("X-Amzn-Requestid", "bedrocktest-"+name)
	}
	w.WriteHeader(status)
	if !strings.HasPrefix(h.Get("Content-Type"), "application/vnd.amazon.eventstream") {
		if status == http.StatusOK {
			var r wire.ConverseResponse
			if json.Unmarshal(body, &r) == nil && r.Usage != nil {
				s.setUsage(idx, r.Usage)
			}
		}
		_, _ = w.Write(body)
		return nil
	}
	frames, err := SplitFrames(body)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	dec := eventstream.NewDecoder()
	for _, f := range frames {
		if m, err := dec.Decode(bytes.NewReader(f), nil); err == nil && header(m, wire.HeaderEventType) == wire.EventMetadata {
			var md wire.MetadataEvent
			if json.Unmarshal(m.Payload, &md) == nil && md.Usage != nil {
				s.setUsage(idx, md.Usage)
			}
		}
		_, _ = w.Write(f)
		_ = rc.Flush()
	}
	return nil
}

func header(m eventstream.Message, name string) string {
	if v, ok := m.Headers.Get(name).(eventstream.StringValue); ok {
		return string(v)
	}
	return ""
}

// serveError answers with the error of kind.
func serveError(s *Server, w http.ResponseWriter, idx int, kind string) {
	switch kind {
	case "400":
		_ = s.serveFixture(w, idx, "error-400-invalid-model")
	case "context":
		validation("Input is too long for requested model.").write(w)
	case "403":
		_ = s.serveFixture(w, idx, "error-403-access-denied")
	case "404":
		(&apiError{http.StatusNotFound, "ResourceNotFoundException", "Model not found: the requested model does not exist or is not available in this region."}).write(w)
	case "408":
		(&apiError{http.StatusRequestTimeout, "ModelTimeoutException", "Model has timed out in processing the request. Try your request again."}).write(w)
	case "424":
		(&apiError{http.StatusFailedDependency, "ModelErrorException", "The model returned an error: an internal failure occurred."}).write(w)
	case "429":
		_ = s.serveFixture(w, idx, "error-429-throttling")
	case "500":
		(&apiError{http.StatusInternalServerError, "InternalServerException", "The server encountered an internal error while processing the request."}).write(w)
	case "503":
		(&apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "Too many connections, please wait before trying again."}).write(w)
	default:
		validation("bedrocktest: unknown error kind %q", kind).write(w)
	}
}

// exceptionTypes maps the kinds of "exception:<kind>" to the stream's
// exception types and messages.
var exceptionTypes = map[string]struct{ typ, msg string }{
	"throttling":         {wire.ExceptionThrottling, "Too many tokens, please wait before trying again."},
	"modelStreamError":   {wire.ExceptionModelStreamError, "The model stream encountered an error."},
	"validation":         {wire.ExceptionValidation, "Input is too long for requested model."},
	"serviceUnavailable": {wire.ExceptionServiceUnavailable, "The service is unavailable. Please try again later."},
	"internalServer":     {wire.ExceptionInternalServer, "The server encountered an internal error."},
}
