package cli

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
)

// TestKeysGovernance: `keys create` sets a key's budget, limits, end-user
// defaults, allowed IPs and metadata; `keys set` changes some of them;
// `keys rotate` issues a new key in the same family; every change is an
// admin audit record made by the CLI's user.
func TestKeysGovernance(t *testing.T) {
	cfg := writeConfig(t, "airgw.yaml", goodConfig)
	r := run(t, "keys", "create", "--name", "ci-bot", "--team", "search", "--budget-usd", "50", "--period", "weekly",
		"--rpm", "60", "--allowed-ips", "10.0.0.0/8,192.168.1.7", "--user-budget-usd", "1.5", "--user-rpm", "5",
		"--metadata", "owner=ana,ticket=OPS-1", "--json", "--config", cfg)
	var k map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || r.code != 0 {
		t.Fatalf("keys create = %d %q %q", r.code, r.stdout, r.stderr)
	}
	b, _ := k["budget"].(map[string]any)
	users, _ := k["users"].(map[string]any)
	if b["limit_usd"] != "50.00" || b["period"] != "weekly" || b["hard"] != true || k["limits"].(map[string]any)["rpm"] != 60.0 ||
		len(k["allowed_ips"].([]any)) != 2 || users == nil || k["metadata"].(map[string]any)["owner"] != "ana" {
		t.Errorf("created key = %s, want its budget, limits, allowed IPs, user defaults and metadata", r.stdout)
	}
	r = run(t, "keys", "set", "ci-bot", "--tpm", "1000", "--soft", "--no-allowed-ips", "--json", "--config", cfg)
	var after map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &after); err != nil || r.code != 0 {
		t.Fatalf("keys set = %d %q %q", r.code, r.stdout, r.stderr)
	}
	l := after["limits"].(map[string]any)
	ab := after["budget"].(map[string]any)
	if l["rpm"] != 60.0 || l["tpm"] != 1000.0 || ab["hard"] != false || ab["period"] != "weekly" || ab["limit_usd"] != "50.00" || after["allowed_ips"] != nil {
		t.Errorf("after keys set = %s, want rpm kept, tpm 1000, the weekly $50 budget made soft, and no allowed IPs", r.stdout)
	}
	r = run(t, "keys", "rotate", "ci-bot", "--grace", "2h", "--json", "--config", cfg)
	var next map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &next); err != nil || r.code != 0 {
		t.Fatalf("keys rotate = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(next["key"].(string), "sk-airgw-") || next["family"] != k["id"] || next["name"] != "ci-bot" {
		t.Errorf("rotated = %s, want a new key named ci-bot in the family of %s", r.stdout, k["id"])
	}
	if r := run(t, "keys", "rotate", k["id"].(string), "--config", cfg); r.code != 1 || !strings.Contains(r.stderr, "already revoked or rotated") {
		t.Errorf("rotating the old key again = %d %q, want a refusal", r.code, r.stderr)
	}
	if r := run(t, "keys", "create", "--name", "z", "--budget-usd", "lots", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, "--budget-usd") {
		t.Errorf("keys create --budget-usd lots = %d %q, want a usage error", r.code, r.stderr)
	}

	r = run(t, "audit", "export", "--config", cfg)
	var actions []string
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var rec struct {
			Kind   string `json:"kind"`
			Change struct {
				Actor, Action string
			} `json:"change"`
		}
		_ = json.Unmarshal(sc.Bytes(), &rec)
		if rec.Kind == "admin" {
			if !strings.HasPrefix(rec.Change.Actor, "cli:") {
				t.Errorf("admin record actor = %q, want cli:<user>", rec.Change.Actor)
			}
			actions = append(actions, rec.Change.Action)
		}
		if strings.Contains(sc.Text(), next["key"].(string)) {
			t.Errorf("the audit trail holds a plaintext key: %s", sc.Text())
		}
	}
	if strings.Join(actions, ",") != "key.create,key.update,key.rotate" {
		t.Errorf("admin records = %v, want key.create, key.update, key.rotate", actions)
	}
}
