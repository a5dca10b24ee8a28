package admin

import (
	"net/http"
	"sort"
	"strings"
)

// The OpenAPI 3.1 description is built from the registered routes, so it
// cannot drift from what the server serves; each route's allowed roles are
// in x-airgw-roles.

type obj = map[string]any

func str(desc string) obj { return obj{"type": "string", "description": desc} }
func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }
func list(item obj) obj   { return obj{"type": "array", "items": item} }
func props(p obj, req ...string) obj {
	o := obj{"type": "object", "properties": p}
	if len(req) > 0 {
		o["required"] = req
	}
	return o
}

var limitsSchema = props(obj{
	"rpm": obj{"type": "integer"}, "rpd": obj{"type": "integer"}, "tpm": obj{"type": "integer"}, "concurrent": obj{"type": "integer"},
	"models": list(props(obj{"model": str("alias or glob"), "rpm": obj{"type": "integer"}, "rpd": obj{"type": "integer"},
		"tpm": obj{"type": "integer"}, "concurrent": obj{"type": "integer"}})),
})

var settingsProps = obj{
	"budget":      ref("Budget"),
	"limits":      ref("Limits"),
	"users":       props(obj{"budget": ref("Budget"), "limits": ref("Limits")}),
	"allowed_ips": list(str("CIDR range such as 10.0.0.0/8")),
}

func merge(a, b obj) obj {
	out := obj{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

var keyProps = merge(obj{
	"id": str("key_…"), "name": str(""), "team": str(""), "models": list(str("alias or glob")), "prefix": str("display form"),
	"created_at": str("RFC 3339"), "expires_at": str("RFC 3339"), "revoked_at": str("RFC 3339"), "last_used_at": str("RFC 3339"),
	"metadata": obj{"type": "object", "additionalProperties": obj{"type": "string"}},
	"family":   str("the first key of its rotation chain"), "rotated_to": str("the key that replaced it"),
}, settingsProps)

var schemas = obj{
	"Error":     props(obj{"error": props(obj{"code": str(""), "message": str(""), "request_id": str("")})}),
	"Principal": props(obj{"name": str(""), "role": obj{"type": "string", "enum": []string{"admin", "auditor", "team_admin"}}, "team": str("")}),
	"Budget": props(obj{"limit_usd": str("dollars, as text: \"50.00\""), "period": obj{"type": "string", "enum": []string{"daily", "weekly", "monthly", "total"}},
		"hard": obj{"type": "boolean"}, "alert_at": list(obj{"type": "integer"})}, "limit_usd", "period"),
	"Limits":     limitsSchema,
	"Key":        props(keyProps),
	"KeyList":    props(obj{"keys": list(ref("Key"))}),
	"KeyCreate":  props(merge(obj{"name": str(""), "team": str(""), "models": list(str("")), "expires_at": str("RFC 3339"), "expires_in": str("duration like 720h"), "metadata": obj{"type": "object"}}, settingsProps), "name"),
	"KeyCreated": props(merge(keyProps, obj{"key": str("the plaintext key, shown once")})),
	"KeyUpdate":  props(merge(obj{"models": list(str("")), "expires_at": str("RFC 3339; null clears"), "metadata": obj{"type": "object"}}, settingsProps)),
	"KeyRotate":  props(obj{"grace": str("how long the old key keeps working, like 24h; default 0")}),
	"KeyRotated": props(obj{"key": str("the new key's plaintext, shown once"), "new": ref("Key"), "old": ref("Key")}),
	"Team": props(obj{"name": str(""), "models": list(str("")), "budget": ref("Budget"), "limits": ref("Limits"),
		"users": props(obj{"budget": ref("Budget"), "limits": ref("Limits")}), "policies": list(str("rule name"))}),
	"TeamList":     props(obj{"teams": list(ref("Team"))}),
	"User":         props(obj{"owner": str("team:<name> or key:<family>"), "id": str(""), "created_at": str("RFC 3339"), "budget": ref("Budget"), "limits": ref("Limits")}),
	"UserList":     props(obj{"users": list(ref("User"))}),
	"UserSettings": props(obj{"budget": ref("Budget"), "limits": ref("Limits")}),
	"BudgetState": props(obj{"account": str("global, team:<name>, key:<family>, user:<owner>/<id>"), "owner": str(""), "path": str("where it is set"), "budget": ref("Budget"),
		"spent_usd": str("spent in the current period (since the last reset)"), "reserved_usd": str("reserved by requests in flight"),
		"remaining_usd": str("limit less spent and reserved, at least 0"), "alerted_percent": obj{"type": "integer", "description": "highest alert threshold sent this period"},
		"period_start": str("RFC 3339"), "resets_at": str("RFC 3339; absent for period total"), "last_reset": str("RFC 3339: the last reset by an admin this period")}),
	"BudgetList":        props(obj{"budgets": list(ref("BudgetState"))}),
	"BudgetReset":       props(obj{"account": str("the budget's account; a key may be named key:<name or id>")}, "account"),
	"BudgetResetResult": props(obj{"before": ref("BudgetState"), "after": ref("BudgetState")}),
	"LimitList": props(obj{"limits": list(props(obj{"scope": str("the account, or `users of <owner>` for end users' defaults"), "path": str("where they are set"), "limits": ref("Limits"),
		"state": list(props(obj{"name": str("the limit's path, such as teams.search.limits.models.gpt-4o.rpm"), "model": str("alias or glob of a per-model limit"),
			"kind": obj{"type": "string", "enum": []string{"rpm", "rpd", "tpm", "concurrent"}}, "limit": obj{"type": "integer"},
			"used":      obj{"type": "integer", "description": "requests or tokens in the window; requests in flight for concurrent"},
			"remaining": obj{"type": "integer"}, "reset": str("until room frees up, as x-ratelimit-reset-*: 59s"), "resets_at": str("RFC 3339")}))}))}),
	"Usage": props(obj{"group_by": list(str("")), "rows": list(props(obj{"group": obj{"type": "object"}, "key_name": str(""),
		"requests": obj{"type": "integer"}, "errors": obj{"type": "integer"}, "input_tokens": obj{"type": "integer"}, "output_tokens": obj{"type": "integer"},
		"cost_nano_usd": obj{"type": "integer"}}))}),
	"RecordList": props(obj{"records": list(obj{"type": "object", "description": "an audit record (docs/api.md)"})}),
}

// OpenAPI returns the OpenAPI 3.1 document of the registered routes.
func (s *Server) OpenAPI() obj {
	paths := obj{}
	for _, rt := range s.routes {
		item, _ := paths[rt.Path].(obj)
		if item == nil {
			item = obj{}
			paths[rt.Path] = item
		}
		var params []obj
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, obj{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": obj{"type": "string"}})
			}
		}
		names := make([]string, 0, len(rt.Doc.Query))
		for n := range rt.Doc.Query {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			params = append(params, obj{"name": n, "in": "query", "description": rt.Doc.Query[n], "schema": obj{"type": "string"}})
		}
		ok := obj{"description": "OK", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}
		if rt.Doc.Response != "" {
			ok["content"] = obj{"application/json": obj{"schema": ref(rt.Doc.Response)}}
		}
		errResp := func(d string) obj {
			return obj{"description": d, "content": obj{"application/json": obj{"schema": ref("Error")}}}
		}
		op := obj{
			"summary":       rt.Doc.Summary,
			"operationId":   strings.ToLower(rt.Method) + strings.NewReplacer("/admin/v1", "", "/", "_", "{", "", "}", "", ".", "_").Replace(rt.Path),
			"x-airgw-roles": rt.Roles,
			"security":      []obj{{"bearer": []string{}}},
			"responses":     obj{"200": ok, "400": errResp("invalid request"), "401": errResp("no or unknown credential"), "403": errResp("the role or team may not")},
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.Doc.Request != "" {
			op["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(rt.Doc.Request)}}}
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return obj{
		"openapi": "3.1.0",
		"info": obj{"title": "airgw admin API", "version": "v1",
			"description": "The control plane of airgw: keys, teams, end users, budgets, limits, usage and audit. Every route needs an admin credential; x-airgw-roles lists the roles allowed."},
		"servers":    []obj{{"url": "/"}},
		"paths":      paths,
		"components": obj{"schemas": schemas, "securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"}}},
	}
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request, _ *Principal) {
	writeJSON(w, http.StatusOK, s.OpenAPI())
}
