package keys

import (
	"errors"
	"strings"
	"testing"
)

func TestGenerateRoundTrip(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		k, err := Generate()
		if err != nil {
			t.Fatalf("Generate() error: %v", err)
		}
		if len(k) != KeyLen || !strings.HasPrefix(k, Prefix) {
			t.Fatalf("Generate() = key of length %d, want %d with prefix %s", len(k), KeyLen, Prefix)
		}
		if err := CheckFormat(k); err != nil {
			t.Fatalf("CheckFormat(Generate()) = %v, want nil", err)
		}
		if seen[k] {
			t.Fatal("Generate() returned the same key twice")
		}
		seen[k] = true
	}
}

const sampleKey = "sk-airgw-" + "0123456789abcdefghijABCDEFGHIJkl"

func sample(t testing.TB) string {
	t.Helper()
	random := sampleKey[len(Prefix):]
	k := sampleKey + checksum(random)
	if err := CheckFormat(k); err != nil {
		t.Fatalf("CheckFormat(sample) = %v", err)
	}
	return k
}

func TestChecksumCatchesEverySingleCharacterTypo(t *testing.T) {
	k := sample(t)
	tried := 0
	for i := len(Prefix); i < len(k); i++ {
		for j := 0; j < len(base62); j++ {
			c := base62[j]
			if c == k[i] {
				continue
			}
			typo := k[:i] + string(c) + k[i+1:]
			tried++
			if err := CheckFormat(typo); !errors.Is(err, ErrChecksum) {
				t.Fatalf("CheckFormat(key with position %d changed) = %v, want ErrChecksum", i, err)
			}
		}
	}
	if want := (KeyLen - len(Prefix)) * 61; tried != want {
		t.Errorf("tried %d typos, want %d", tried, want)
	}
}

func TestChecksumCatchesAdjacentSwaps(t *testing.T) {
	k := sample(t)
	for i := len(Prefix); i < len(k)-1; i++ {
		if k[i] == k[i+1] {
			continue
		}
		swapped := k[:i] + string(k[i+1]) + string(k[i]) + k[i+2:]
		if err := CheckFormat(swapped); err == nil {
			t.Errorf("CheckFormat(key with %d and %d swapped) = nil, want error", i, i+1)
		}
	}
}

func TestCheckFormatErrors(t *testing.T) {
	k := sample(t)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"valid", k, nil},
		{"empty", "", ErrPrefix},
		{"openai-key", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", ErrPrefix},
		{"prefix-only", Prefix, ErrLength},
		{"too-short", k[:len(k)-1], ErrLength},
		{"too-long", k + "A", ErrLength},
		{"dash-in-body", k[:20] + "-" + k[21:], ErrCharacters},
		{"space-in-body", k[:20] + " " + k[21:], ErrCharacters},
		{"non-ascii", k[:KeyLen-2] + "é", ErrCharacters},
		{"bad-checksum", k[:KeyLen-6] + "000000", ErrChecksum},
		{"uppercase-prefix", strings.ToUpper(k[:len(Prefix)]) + k[len(Prefix):], ErrPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckFormat(tt.in)
			if err != tt.want {
				t.Errorf("CheckFormat(%s) = %v, want %v", tt.name, err, tt.want)
			}
			if err != nil && len(tt.in) > len(Prefix) && strings.Contains(err.Error(), tt.in[len(Prefix):]) {
				t.Errorf("CheckFormat(%s) error contains the key", tt.name)
			}
		})
	}
}

func TestDisplayPrefix(t *testing.T) {
	k := sample(t)
	tests := []struct{ in, want string }{
		{k, "sk-airgw-0123…"},
		{"", "sk-airgw-…"},
		{"sk-proj-abcdef", "sk-airgw-…"},
	}
	for _, tt := range tests {
		if got := DisplayPrefix(tt.in); got != tt.want {
			t.Errorf("DisplayPrefix(%.12q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzCheckFormat(f *testing.F) {
	f.Add(sample(f))
	f.Add("")
	f.Add(Prefix)
	f.Add("sk-airgw-\x00")
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckFormat(s)
		if err == nil {
			if len(s) != KeyLen || !strings.HasPrefix(s, Prefix) {
				t.Fatalf("CheckFormat accepted a %d-byte string without the layout", len(s))
			}
			return
		}
		switch err {
		case ErrPrefix, ErrLength, ErrCharacters, ErrChecksum:
		default:
			t.Fatalf("CheckFormat returned unexpected error %v", err)
		}
		if len(s) > len(Prefix)+4 && strings.Contains(err.Error(), s) {
			t.Fatal("error contains the input")
		}
	})
}
