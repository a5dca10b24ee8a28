package gemini

import (
	"strconv"
	"strings"
)

// signaturePrefix marks the thought signatures this adapter hands out as
// Gemini's own. A client receives Gemini's thoughtSignature as the
// signature of a thinking block (Anthropic clients), and sends it back in
// later turns, possibly beside signatures of Claude's thinking (from the
// anthropic or bedrock adapters) when the conversation moved between
// providers. Gemini answers 400 to a signature it did not produce, and
// nothing in a signature's bytes says who made it; so the adapter prefixes
// Gemini's (base64 never holds a colon) and sends Gemini only the
// signatures that carry the prefix, without it.
const signaturePrefix = "gemini:"

// skipSignature is the value Google documents for a function call Gemini
// did not produce (a conversation from another model, or a client that
// kept no signatures: OpenAI's Chat Completions has no field for them).
// Gemini 3 models refuse a function call of the current turn without a
// signature.
const skipSignature = "skip_thought_signature_validator"

// exportSignature returns sig as clients receive it; "" stays "".
func exportSignature(sig string) string {
	if sig == "" {
		return ""
	}
	return signaturePrefix + sig
}

// ownSignature returns the Gemini signature a client sent back, or "" for
// one that Gemini did not produce (another provider's, or none).
func ownSignature(sig string) string {
	s, ok := strings.CutPrefix(sig, signaturePrefix)
	if !ok {
		return ""
	}
	return s
}

// validatesSignatures reports whether model is a Gemini 3 or later model,
// which refuses function calls without a thought signature.
func validatesSignatures(model string) bool {
	m := model[strings.LastIndexByte(model, '/')+1:]
	rest, ok := strings.CutPrefix(m, "gemini-")
	if !ok {
		return false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, err := strconv.Atoi(rest[:end])
	return err == nil && n >= 3
}
