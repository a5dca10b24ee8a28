package geminitest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	wire "github.com/airgw/airgw/internal/wire/gemini"
)

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// decodeRequest decodes a generateContent body strictly, failing as the
// real API does on an unknown field.
func decodeRequest(raw []byte) (*wire.Request, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var body wire.Request
	if err := dec.Decode(&body); err != nil {
		if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
			return nil, invalid("Invalid JSON payload received. Unknown name %q: Cannot find field.", m[1])
		}
		return nil, invalid("Invalid JSON payload received. %v", err)
	}
	if dec.More() {
		return nil, invalid("Invalid JSON payload received. Unexpected token.")
	}
	return &body, nil
}

// validateRequest checks a decoded body the way the real API does.
func validateRequest(b *wire.Request) *apiError {
	if len(b.Contents) == 0 {
		return invalid("* GenerateContentRequest.contents: contents is not specified")
	}
	if si := b.SystemInstruction; si != nil {
		for i, p := range si.Parts {
			if p.Text == "" {
				return invalid("* GenerateContentRequest.system_instruction.parts[%d]: only text parts are allowed here", i)
			}
		}
	}
	var pending []string // names of the last model turn's function calls
	for i, c := range b.Contents {
		if c.Role != wire.RoleUser && c.Role != wire.RoleModel {
			return invalid("Please use a valid role: user, model.")
		}
		if len(c.Parts) == 0 {
			return invalid("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		var calls []string
		for j, p := range c.Parts {
			if e := validatePart(i, j, c.Role, &p); e != nil {
				return e
			}
			if p.FunctionCall != nil {
				calls = append(calls, p.FunctionCall.Name)
			}
			if fr := p.FunctionResponse; fr != nil {
				k := slices.Index(pending, fr.Name)
				if k < 0 {
					return invalid("* GenerateContentRequest.contents[%d].parts[%d].function_response.name: %q does not answer a function call of the previous model turn", i, j, fr.Name)
				}
				pending = slices.Delete(pending, k, k+1)
			}
		}
		if c.Role == wire.RoleModel {
			pending = calls
		}
	}
	for i, t := range b.Tools {
		for j, d := range t.FunctionDeclarations {
			if d.Name == "" {
				return invalid("* GenerateContentRequest.tools[%d].function_declarations[%d].name: Invalid function name.", i, j)
			}
			if len(d.Parameters) > 0 && len(d.ParametersJSONSchema) > 0 {
				return invalid("* GenerateContentRequest.tools[%d].function_declarations[%d]: parameters and parameters_json_schema are mutually exclusive", i, j)
			}
			if len(d.Parameters) > 0 {
				if e := validateSchema(d.Parameters, fmt.Sprintf("tools[%d].function_declarations[%d].parameters", i, j)); e != nil {
					return e
				}
			}
		}
	}
	if tc := b.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fc := tc.FunctionCallingConfig
		switch fc.Mode {
		case "", wire.ModeAuto, wire.ModeAny, wire.ModeNone, "VALIDATED":
		default:
			return invalid("Invalid value at 'tool_config.function_calling_config.mode', %q", fc.Mode)
		}
		if len(fc.AllowedFunctionNames) > 0 && fc.Mode != wire.ModeAny {
			return invalid("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: allowed_function_names may be set only when the mode is ANY.")
		}
	}
	if g := b.GenerationConfig; g != nil {
		if len(g.ResponseSchema) > 0 && len(g.ResponseJSONSchema) > 0 {
			return invalid("* GenerateContentRequest.generation_config: response_schema and response_json_schema are mutually exclusive")
		}
		if (len(g.ResponseSchema) > 0 || len(g.ResponseJSONSchema) > 0) && g.ResponseMIMEType != "application/json" {
			return invalid("* GenerateContentRequest.generation_config.response_mime_type: a response schema needs response_mime_type application/json")
		}
		if g.CandidateCount < 0 || g.CandidateCount > 8 || g.MaxOutputTokens < 0 {
			return invalid("* GenerateContentRequest.generation_config: candidate_count and max_output_tokens must be in range")
		}
	}
	return nil
}

// validatePart checks that a part holds exactly one kind of data, allowed
// in its turn.
func validatePart(i, j int, role string, p *wire.Part) *apiError {
	n := 0
	if p.Text != "" || p.Thought {
		n++
	}
	for _, set := range []bool{p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil, p.FunctionResponse != nil,
		len(p.ExecutableCode) > 0, len(p.CodeExecutionResult) > 0} {
		if set {
			n++
		}
	}
	where := fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d]", i, j)
	switch {
	case n == 0:
		return invalid("%s.data: required oneof field 'data' must have one initialized field", where)
	case n > 1:
		return invalid("%s: oneof field 'data' is already set. Cannot set more than one.", where)
	case p.FunctionCall != nil && role != wire.RoleModel:
		return invalid("%s.function_call: function calls are only allowed in model turns", where)
	case p.FunctionResponse != nil && role != wire.RoleUser:
		return invalid("%s.function_response: function responses are only allowed in user turns", where)
	case p.FunctionCall != nil && (p.FunctionCall.Name == "" || !isObject(p.FunctionCall.Args)):
		return invalid("%s.function_call: a name and object args are required", where)
	case p.FunctionResponse != nil && !isObject(p.FunctionResponse.Response):
		return invalid("%s.function_response.response: Proto field is not repeating, cannot start list.", where)
	case p.InlineData != nil:
		if p.InlineData.MIMEType == "" {
			return invalid("%s.inline_data.mime_type: required", where)
		}
		if _, err := base64.StdEncoding.DecodeString(p.InlineData.Data); err != nil {
			return invalid("Invalid value at 'contents[%d].parts[%d].inline_data.data' (TYPE_BYTES), Base64 decoding failed", i, j)
		}
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || (t[0] == '{' && json.Valid(t))
}

// schemaFields are the fields of Gemini's Schema message.
var schemaFields = map[string]bool{
	"type": true, "format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "properties": true, "required": true, "minProperties": true,
	"maxProperties": true, "minLength": true, "maxLength": true, "pattern": true, "example": true,
	"anyOf": true, "propertyOrdering": true, "default": true, "items": true, "minimum": true, "maximum": true,
}

var schemaTypes = []string{"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}

// validateSchema checks a Schema (OpenAPI subset) as the API's proto
// decoding does: unknown fields and bad type names fail.
func validateSchema(raw json.RawMessage, at string) *apiError {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return invalid("Invalid JSON payload received. Unknown name at '%s': Proto field is not repeating, cannot start list.", at)
	}
	for k, v := range m {
		if !schemaFields[k] {
			return invalid("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", k, at)
		}
		switch k {
		case "type":
			var t string
			if json.Unmarshal(v, &t) != nil || !slices.Contains(schemaTypes, strings.ToUpper(t)) {
				return invalid("Invalid value at '%s.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), %s", at, v)
			}
		case "properties":
			var props map[string]json.RawMessage
			if json.Unmarshal(v, &props) != nil {
				return invalid("Invalid JSON payload received at '%s.properties'.", at)
			}
			for name, p := range props {
				if e := validateSchema(p, at+".properties["+name+"].value"); e != nil {
					return e
				}
			}
		case "items":
			if e := validateSchema(v, at+".items"); e != nil {
				return e
			}
		case "anyOf":
			var list []json.RawMessage
			if json.Unmarshal(v, &list) != nil {
				return invalid("Invalid JSON payload received at '%s.any_of'.", at)
			}
			for n, s := range list {
				if e := validateSchema(s, fmt.Sprintf("%s.any_of[%d]", at, n)); e != nil {
					return e
				}
			}
		}
	}
	return nil
}

// SkipSignature is the thoughtSignature Google documents for function
// calls Gemini did not produce; Gemini 3 models accept it in place of a
// real signature.
const SkipSignature = "skip_thought_signature_validator"

// issuedPrefix starts the (decoded) signatures the echo issues.
const issuedPrefix = "geminitest-signature-"

// IssueSignature returns the thoughtSignature the echo puts on the n-th
// answer's function call.
func IssueSignature(n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s%d", issuedPrefix, n))
}

// fixtureSignatures are the signatures Gemini produced in the recorded
// fixtures.
var fixtureSignatures = func() map[string]bool {
	re := regexp.MustCompile(`"thoughtSignature":\s*"([^"]+)"`)
	out := map[string]bool{}
	for _, name := range FixtureNames() {
		raw, _ := fixtureFS.ReadFile("testdata/" + name + ".http")
		for _, m := range re.FindAllSubmatch(raw, -1) {
			out[string(m[1])] = true
		}
	}
	return out
}()

// validateSignatures checks thought signatures as Gemini does: each must
// be one Gemini produced (a recorded one, or one this fake issued) or
// SkipSignature, and a Gemini 3 model wants one on the first function call
// of every model step of the current turn (the contents after the last
// user text).
func validateSignatures(model string, b *wire.Request) *apiError {
	for i, c := range b.Contents {
		for j, p := range c.Parts {
			sig := p.ThoughtSignature
			if sig == "" || sig == SkipSignature || fixtureSignatures[sig] {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(sig)
			if err != nil {
				raw, err = base64.URLEncoding.DecodeString(sig)
			}
			if err != nil {
				return invalid("Invalid value at 'contents[%d].parts[%d].thought_signature' (TYPE_BYTES), Base64 decoding failed for %q", i, j, sig)
			}
			if !bytes.HasPrefix(raw, []byte(issuedPrefix)) {
				return invalid("Corrupted thought signature.")
			}
		}
	}
	if !strings.HasPrefix(model, "gemini-3") {
		return nil
	}
	start := 0
	for i, c := range b.Contents {
		if c.Role == wire.RoleUser && slices.ContainsFunc(c.Parts, func(p wire.Part) bool { return p.Text != "" }) {
			start = i + 1
		}
	}
	for i := start; i < len(b.Contents); i++ {
		for j, p := range b.Contents[i].Parts {
			if p.FunctionCall == nil {
				continue
			}
			if p.ThoughtSignature == "" {
				return invalid("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", p.FunctionCall.Name, j+1)
			}
			break // only a step's first call carries one
		}
	}
	return nil
}
