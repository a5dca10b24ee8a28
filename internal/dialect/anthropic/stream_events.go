package anthropic

import (
	"encoding/json"
	"strconv"

	"github.com/airgw/airgw/internal/llm"
)

// The stream event bodies, in Anthropic's field order.

type typeOnly struct {
	Type string `json:"type"`
}

type messageStartEvent struct {
	Type    string  `json:"type"`
	Message message `json:"message"`
}

type blockStart struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock any    `json:"content_block"`
}

type blockDelta struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Delta any    `json:"delta"`
}

type blockStop struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type textDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingDelta struct {
	Type     string `json:"type"`
	Thinking string `json:"thinking"`
}

type signatureDelta struct {
	Type      string `json:"type"`
	Signature string `json:"signature"`
}

type inputJSONDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

type messageDeltaEvent struct {
	Type  string     `json:"type"`
	Delta stopDelta  `json:"delta"`
	Usage deltaUsage `json:"usage"`
}

type stopDelta struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// deltaUsage is message_delta's usage. Every count is a whole-message total
// that the SDKs' accumulators copy over message_start's; the input counts
// are omitted when unknown so that message_start's stand.
type deltaUsage struct {
	InputTokens              *int64 `json:"input_tokens,omitempty"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             int64  `json:"output_tokens"`
}

var emptyInput = json.RawMessage(`{}`)

// appendNeutral appends the Anthropic events for one neutral event. Usage is
// remembered for message_delta: OpenAI-style upstreams report it only at
// the end, so message_start then says 0 input tokens and message_delta
// carries the full counts.
func (w *Writer) appendNeutral(ev *llm.Event) {
	st := &w.st
	if !st.started {
		w.messageStart(ev)
	}
	if ev.Usage != nil {
		u := *ev.Usage
		st.usage = &u
	}
	if ev.Index != 0 {
		return
	}
	if ev.Thinking != "" {
		w.openThinking()
		w.delta(st.index, thinkingDelta{Type: "thinking_delta", Thinking: ev.Thinking})
	}
	if ev.ThinkingSignature != "" {
		w.openThinking()
		w.delta(st.index, signatureDelta{Type: "signature_delta", Signature: ev.ThinkingSignature})
		st.signed = true // the block is complete; more thinking starts another
	}
	if ev.RedactedThinking != "" {
		w.closeBlock()
		w.startBlock(blockWhole, redactedThinkingBlock{Type: "redacted_thinking", Data: ev.RedactedThinking})
		w.closeBlock()
	}
	if ev.Text != "" {
		if st.open != blockText {
			w.closeBlock()
			w.startBlock(blockText, textBlock{Type: "text", Text: ""})
		}
		w.delta(st.index, textDelta{Type: "text_delta", Text: ev.Text})
	}
	for _, tc := range ev.ToolCalls {
		w.toolDelta(tc)
	}
	if ev.FinishReason != "" {
		st.finish, st.stopSeq = ev.FinishReason, ev.StopSequence
	}
}

func (w *Writer) messageStart(ev *llm.Event) {
	m := message{ID: messageID(ev.ID, w.requestID), Type: "message", Role: "assistant", Model: ev.Model, Content: []any{}}
	if ev.Usage != nil {
		m.Usage = usageFrom(*ev.Usage)
	}
	w.event("message_start", messageStartEvent{Type: "message_start", Message: m})
	w.st.started = true
}

func (w *Writer) openThinking() {
	if w.st.open == blockThinking && !w.st.signed {
		return
	}
	w.closeBlock()
	w.startBlock(blockThinking, thinkingBlock{Type: "thinking"})
	w.st.signed = false
}

// startBlock starts the next content block, of kind k, sending the one ping
// that Anthropic sends after the first block starts.
func (w *Writer) startBlock(k blockKind, cb any) {
	st := &w.st
	st.index, st.open = st.next, k
	st.next++
	w.event("content_block_start", blockStart{Type: "content_block_start", Index: st.index, ContentBlock: cb})
	if !st.pinged {
		st.pinged = true
		w.event("ping", typeOnly{Type: "ping"})
	}
}

func (w *Writer) closeBlock() {
	st := &w.st
	if st.open == blockNone {
		return
	}
	w.event("content_block_stop", blockStop{Type: "content_block_stop", Index: st.index})
	st.open = blockNone
}

func (w *Writer) delta(index int, d any) {
	w.event("content_block_delta", blockDelta{Type: "content_block_delta", Index: index, Delta: d})
}

// toolDelta starts a tool_use block for a tool call not seen before and
// appends its argument fragment as input_json_delta. A call is new when its
// neutral index is new, or when it brings an id other than the one its index
// had (some OpenAI-compatible servers number every call 0). A fragment for
// a call whose block was already closed still goes to that block's index:
// the SDKs accumulate by index, and dropping arguments would be worse than
// an out-of-order delta.
func (w *Writer) toolDelta(tc llm.ToolCallDelta) {
	st := &w.st
	cur, known := st.toolBlock[tc.Index]
	if !known || (tc.ID != "" && tc.ID != cur.id) {
		w.closeBlock()
		id := tc.ID
		if id == "" {
			id = "toolu_" + w.requestID + "_" + strconv.Itoa(st.toolCalls)
		}
		w.startBlock(blockToolUse, toolUseBlock{Type: "tool_use", ID: id, Name: tc.Name, Input: emptyInput})
		if st.toolBlock == nil {
			st.toolBlock = make(map[int]toolBlock)
		}
		cur = toolBlock{index: st.index, id: id}
		st.toolBlock[tc.Index] = cur
		st.toolCalls++
	}
	if tc.Arguments != "" {
		w.delta(cur.index, inputJSONDelta{Type: "input_json_delta", PartialJSON: tc.Arguments})
	}
}

// endNeutral closes the open block and ends the message.
func (w *Writer) endNeutral() {
	if !w.st.started {
		w.messageStart(&llm.Event{})
	}
	w.closeBlock()
	w.messageDelta()
	w.event("message_stop", typeOnly{Type: "message_stop"})
	w.st.ended = true
}

// messageDelta appends message_delta with the stop reason and the last
// usage reported.
func (w *Writer) messageDelta() {
	st := &w.st
	sr := stopReason(st.finish, st.stopSeq)
	ev := messageDeltaEvent{Type: "message_delta", Delta: stopDelta{StopReason: &sr}}
	if sr == "stop_sequence" {
		s := st.stopSeq
		ev.Delta.StopSequence = &s
	}
	if st.usage != nil {
		u := usageFrom(*st.usage)
		ev.Usage = deltaUsage{InputTokens: &u.InputTokens, CacheCreationInputTokens: &u.CacheCreationInputTokens,
			CacheReadInputTokens: &u.CacheReadInputTokens, OutputTokens: u.OutputTokens}
	}
	w.event("message_delta", ev)
}
