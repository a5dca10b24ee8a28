package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    Duration
		wantErr string
	}{
		{"30s", 30 * sec, ""},
		{"1m30s", 90 * sec, ""},
		{"2h", 7200 * sec, ""},
		{"250ms", Duration(250 * time.Millisecond), ""},
		{"0", 0, ""},
		{"0s", 0, ""},
		{"30", 0, "a number needs a unit: ms, s, m or h"},
		{"1.5", 0, "a number needs a unit: ms, s, m or h"},
		{"-5s", 0, "must not be negative"},
		{"1d", 0, "units are ns, us, ms, s, m and h"},
		{"", 0, "units are ns, us, ms, s, m and h"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if got != tt.want || errString(err) != tt.wantErr {
			t.Errorf("ParseDuration(%q) = %v, %q, want %v, %q", tt.in, got, errString(err), tt.want, tt.wantErr)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{"4MiB", 4 << 20, ""},
		{"512KiB", 512 << 10, ""},
		{"1MB", 1_000_000, ""},
		{"1048576", 1 << 20, ""},
		{"2 GiB", 2 << 30, ""},
		{"10kb", 10_000, ""},
		{"7B", 7, ""},
		{"0", 0, ""},
		{"-1MiB", 0, "must not be negative"},
		{"1.5MiB", 0, "units are B, KB, MB, GB, TB, KiB, MiB, GiB and TiB"},
		{"4 gigs", 0, "units are B, KB, MB, GB, TB, KiB, MiB, GiB and TiB"},
		{"MiB", 0, "units are B, KB, MB, GB, TB, KiB, MiB, GiB and TiB"},
		{"9000000TiB", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if got != tt.want || errString(err) != tt.wantErr {
			t.Errorf("ParseSize(%q) = %v, %q, want %v, %q", tt.in, got, errString(err), tt.want, tt.wantErr)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{{4 << 20, "4MiB"}, {3 << 10, "3KiB"}, {1536, "1536"}, {1000, "1000"}, {0, "0"}}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestParsePrice(t *testing.T) {
	tests := []struct {
		in      string
		want    Price
		wantErr string
	}{
		{"2.50", 2_500_000, ""},
		{"0.15", 150_000, ""},
		{"10", 10_000_000, ""},
		{"0", 0, ""},
		{"0.000001", 1, ""},
		{"3.1250000000", 3_125_000, ""}, // trailing zeros lose nothing
		{".5", 500_000, ""},
		{"+1", 1_000_000, ""},
		{"0.0000001", 0, "too precise: at most 6 decimal places"},
		{"-1", 0, "must not be negative"},
		{".nan", 0, "expected a decimal number like 2.50"},
		{"1e-3", 0, "expected a decimal number like 2.50"},
		{"", 0, "expected a decimal number like 2.50"},
		{".", 0, "expected a decimal number like 2.50"},
		{"1.2.3", 0, "expected a decimal number like 2.50"},
		{"99999999999999", 0, "too large"},
	}
	for _, tt := range tests {
		got, err := ParsePrice(tt.in)
		if got != tt.want || errString(err) != tt.wantErr {
			t.Errorf("ParsePrice(%q) = %d, %q, want %d, %q", tt.in, got, errString(err), tt.want, tt.wantErr)
		}
	}
}

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in      string
		want    Money
		wantErr string
	}{
		{"500", 500_000_000_000, ""},
		{"12.75", 12_750_000_000, ""},
		{"0.000000001", 1, ""},
		{"0.0000000001", 0, "too precise: at most 9 decimal places"},
		{"-3", 0, "must not be negative"},
	}
	for _, tt := range tests {
		got, err := ParseMoney(tt.in)
		if got != tt.want || errString(err) != tt.wantErr {
			t.Errorf("ParseMoney(%q) = %d, %q, want %d, %q", tt.in, got, errString(err), tt.want, tt.wantErr)
		}
	}
}

func TestDecimalRoundTrip(t *testing.T) {
	for _, in := range []string{"0", "2.5", "0.15", "10", "0.000001", "123456.789"} {
		p, err := ParsePrice(in)
		if err != nil || p.String() != in {
			t.Errorf("ParsePrice(%q).String() = %q, %v, want %q", in, p.String(), err, in)
		}
	}
	if got, want := Money(12_750_000_000).String(), "12.75"; got != want {
		t.Errorf("Money(12.75 USD).String() = %q, want %q", got, want)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "sk-live-very-secret"
	s := Secret(value)
	if s.Value() != value {
		t.Fatalf("Value() = %q, want %q", s.Value(), value)
	}
	p := Provider{Name: "openai", APIKey: s, Headers: map[string]Secret{"X-Key": s}}
	c := &Config{Providers: []Provider{p}, Auth: Auth{HMACSecret: s}}
	var outputs []string
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%10s"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, p), fmt.Sprintf(verb, c), fmt.Sprintf(verb, &p))
	}
	outputs = append(outputs, fmt.Sprint(s), fmt.Sprintln(p), s.String(), s.GoString())
	for _, v := range []any{s, p, c} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T) = %v", v, err)
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatalf("yaml.Marshal(%T) = %v", v, err)
		}
		outputs = append(outputs, string(j), string(y))
	}
	var log strings.Builder
	slog.New(slog.NewJSONHandler(&log, nil)).Info("x", "key", s, "provider", p)
	outputs = append(outputs, log.String())
	for _, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if got, want := fmt.Sprintf("%v|%#v|%s", s, s, Secret("")), `[redacted]|"[redacted]"|`; got != want {
		t.Errorf("Sprintf(secret) = %q, want %q", got, want)
	}
	if j, _ := json.Marshal(s); string(j) != `"[redacted]"` {
		t.Errorf("json.Marshal(secret) = %s, want %q", j, `"[redacted]"`)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": "", "DOLLAR": "$x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want, wantErr string
	}{
		{"plain", "plain", ""},
		{"${A}", "alpha", ""},
		{"x-${A}-y", "x-alpha-y", ""},
		{"${MISSING:-fallback}", "fallback", ""},
		{"${EMPTY:-fallback}", "fallback", ""},
		{"${EMPTY}", "", ""},
		{"${MISSING:-}", "", ""},
		{"$${A}", "${A}", ""},
		{"pa$word", "pa$word", ""},
		{"$", "$", ""},
		{"cost: 5$$", "cost: 5$", ""},
		{"${DOLLAR}", "$x", ""}, // values are not expanded again
		{"${MISSING:-a:b}", "a:b", ""},
		{"${MISSING}", "", "environment variable MISSING is not set; export it or use ${MISSING:-default}"},
		{"${A", "", "unterminated ${ in value; close it with } or write $$ for a literal $"},
		{"${}", "", `invalid environment variable name "" in ${}; names are letters, digits and _`},
		{"${A-B}", "", `invalid environment variable name "A-B" in ${A-B}; names are letters, digits and _`},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, lookup)
		if got != tt.want || errString(err) != tt.wantErr {
			t.Errorf("expand(%q) = %q, %q, want %q, %q", tt.in, got, errString(err), tt.want, tt.wantErr)
		}
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"listen", "admin_listen", "max_body", "rpm", "rpd", "tpm"}
	tests := map[string]string{
		"lisen": "listen", "lsiten": "listen", "Listen": "listen", "adminListen": "admin_listen",
		"admin-listen": "admin_listen", "maxbody": "max_body", "rpx": "rpm", "frobnicate": "", "": "",
	}
	for in, want := range tests {
		if got := suggest(in, fields); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if diff := cmp.Diff("unknown x \"y\"", unknownMessage("x", "y", nil, true)); diff != "" {
		t.Errorf("unknownMessage with no candidates (-want +got):\n%s", diff)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
