package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/airgw/airgw/internal/llm"
	"github.com/airgw/airgw/internal/provider/bedrock/bedrocktest"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// tamper returns an HTTP client that changes each signed request with f
// before sending it.
func tamper(f func(r *http.Request)) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		f(r)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

// setBody replaces r's body and keeps X-Amz-Content-Sha256 consistent
// with it, so that only the signature can tell.
func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	sum := sha256.Sum256(b)
	r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
}

func TestSignatureRejected(t *testing.T) {
	tests := []struct {
		name     string
		mod      func(*Config)
		wantType string // X-Amzn-Errortype the fake answered
	}{
		{"tampered-body", func(c *Config) {
			c.HTTPClient = tamper(func(r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				setBody(r, bytes.Replace(b, []byte("hello"), []byte("HELLO"), 1))
			})
		}, "InvalidSignatureException"},
		{"tampered-header", func(c *Config) {
			c.HTTPClient = tamper(func(r *http.Request) { r.Header.Set("Accept", "text/plain") })
		}, "InvalidSignatureException"},
		{"tampered-path", func(c *Config) {
			c.HTTPClient = tamper(func(r *http.Request) {
				r.URL.Path = strings.Replace(r.URL.Path, "nova-micro", "nova-pro", 1)
				r.URL.RawPath = strings.Replace(r.URL.RawPath, "nova-micro", "nova-pro", 1)
			})
		}, "InvalidSignatureException"},
		{"missing-date", func(c *Config) {
			c.HTTPClient = tamper(func(r *http.Request) { r.Header.Del("X-Amz-Date") })
		}, "IncompleteSignatureException"},
		{"no-authorization", func(c *Config) {
			c.HTTPClient = tamper(func(r *http.Request) { r.Header.Del("Authorization") })
		}, "MissingAuthenticationTokenException"},
		{"wrong-secret", func(c *Config) {
			c.Credentials = credentials.NewStaticCredentialsProvider(bedrocktest.AccessKey, "not-the-secret", "")
		}, "InvalidSignatureException"},
		{"unknown-key", func(c *Config) {
			c.Credentials = credentials.NewStaticCredentialsProvider("AKIDUNKNOWN000000000", bedrocktest.SecretKey, "")
		}, "UnrecognizedClientException"},
		{"stale-date", func(c *Config) {
			c.Now = func() time.Time { return time.Now().Add(-6 * time.Minute) }
		}, "InvalidSignatureException"},
		{"future-date", func(c *Config) {
			c.Now = func() time.Time { return time.Now().Add(6 * time.Minute) }
		}, "InvalidSignatureException"},
		{"wrong-region", func(c *Config) { c.Region = "eu-central-1" }, "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := bedrocktest.NewServer(t)
			c := newClient(t, srv, tt.mod)
			_, err := c.Chat(context.Background(), userReq("us.amazon.nova-micro-v1:0", "hello"))
			e := asError(t, err)
			if e.Code != llm.CodeProviderAuthFailed || e.UpstreamStatus != http.StatusForbidden {
				t.Errorf("Chat error = %+v, want provider_auth_failed from a 403", e)
			}
			if strings.Contains(e.Message, bedrocktest.AccessKey) || strings.Contains(e.Error(), bedrocktest.SecretKey) {
				t.Errorf("error %q leaks a credential", e.Error())
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].Status != http.StatusForbidden {
				t.Fatalf("fake saw %d requests (%+v), want one answered 403", len(reqs), reqs)
			}
			if !strings.Contains(e.Message, tt.wantType) {
				t.Errorf("message %q does not name %s", e.Message, tt.wantType)
			}
		})
	}
}

func TestSignatureWrongService(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := newClient(t, srv)
	body := []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/model/m/converse", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds, _ := c.creds.Retrieve(context.Background())
	if err := c.signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sagemaker", bedrocktest.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "correct service") {
		t.Errorf("status %d body %s, want 403 naming the service", resp.StatusCode, b)
	}
}

func TestSessionToken(t *testing.T) {
	srv := bedrocktest.NewServer(t, bedrocktest.WithKeys("ASIATESTTEMPORARY001", "temp-secret", "session-token-1"))
	good := newClient(t, srv, func(c *Config) {
		c.Credentials = credentials.NewStaticCredentialsProvider("ASIATESTTEMPORARY001", "temp-secret", "session-token-1")
	})
	if _, err := good.Chat(context.Background(), userReq("m", "hi")); err != nil {
		t.Fatalf("Chat with the session token: %v", err)
	}
	bad := newClient(t, srv, func(c *Config) {
		c.Credentials = credentials.NewStaticCredentialsProvider("ASIATESTTEMPORARY001", "temp-secret", "other-token")
	})
	_, err := bad.Chat(context.Background(), userReq("m", "hi"))
	if e := asError(t, err); e.Code != llm.CodeProviderAuthFailed {
		t.Errorf("Chat with a wrong token = %+v, want provider_auth_failed", e)
	}
}

// isolateAWSEnv points every AWS setting at empty temporary files and
// clears the variables the standard chain reads, so that the developer's
// real configuration is never read. It returns the two file paths.
func isolateAWSEnv(t *testing.T) (configFile, credsFile string) {
	t.Helper()
	dir := t.TempDir()
	configFile, credsFile = filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	for _, f := range []string{configFile, credsFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", configFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("HOME", dir)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ACCESS_KEY", "AWS_SECRET_KEY"} {
		t.Setenv(k, "")
	}
	return configFile, credsFile
}

func TestCredentialsFromEnv(t *testing.T) {
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "ASIAENVTEST000000001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_SESSION_TOKEN", "env-token")
	srv := bedrocktest.NewServer(t, bedrocktest.WithKeys("ASIAENVTEST000000001", "env-secret", "env-token"))
	c, err := New(context.Background(), Config{Name: "b", Region: bedrocktest.Region, BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(context.Background(), userReq("m", "hi")); err != nil {
		t.Fatalf("Chat with credentials from the environment: %v", err)
	}
}

func TestCredentialsFromProfile(t *testing.T) {
	configFile, credsFile := isolateAWSEnv(t)
	if err := os.WriteFile(credsFile, []byte("[airgw-test]\naws_access_key_id = AKIAPROFILETEST00001\naws_secret_access_key = profile-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configFile, []byte("[profile airgw-test]\nregion = eu-west-3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_PROFILE", "airgw-test")
	srv := bedrocktest.NewServer(t, bedrocktest.WithKeys("AKIAPROFILETEST00001", "profile-secret", ""), bedrocktest.WithRegion("eu-west-3"))
	// No region in the config: the profile's is used.
	c, err := New(context.Background(), Config{Name: "b", BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if c.Region() != "eu-west-3" {
		t.Errorf("Region() = %q, want the profile's eu-west-3", c.Region())
	}
	if _, err := c.Chat(context.Background(), userReq("m", "hi")); err != nil {
		t.Fatalf("Chat with credentials from the profile: %v", err)
	}
}

func TestNoCredentials(t *testing.T) {
	isolateAWSEnv(t)
	srv := bedrocktest.NewServer(t)
	c, err := New(context.Background(), Config{Name: "b", Region: bedrocktest.Region, BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(context.Background(), userReq("m", "hi"))
	e := asError(t, err)
	if e.Code != llm.CodeProviderAuthFailed || e.Sent || srv.Calls() != 0 {
		t.Errorf("Chat without credentials = %+v (calls %d), want provider_auth_failed, nothing sent", e, srv.Calls())
	}
}
