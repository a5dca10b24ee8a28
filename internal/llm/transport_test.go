package llm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
)

// timeoutErr is a net.Error that timed out, as a read deadline gives.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransportError(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://api.example.com/v1/chat/completions", Err: err}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	tests := []struct {
		name        string
		ctx         context.Context
		err         error
		sent        bool
		code        Code
		wantSent    bool
		noClient    bool
		messageHint string
	}{
		{"dns", nil, wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "api.example.com", IsNotFound: true}}), false, CodeProviderUnavailable, false, false, "did not resolve"},
		{"refused", nil, wrap(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), false, CodeProviderUnavailable, false, false, "connection failed"},
		{"connect_timeout", nil, wrap(&net.OpError{Op: "dial", Err: timeoutErr{}}), false, CodeProviderUnavailable, false, false, "connection timed out"},
		{"tls_untrusted", nil, wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false, CodeProviderUnavailable, false, true, "TLS certificate was refused"},
		{"tls_hostname", nil, wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "api.example.com"}), false, CodeProviderUnavailable, false, true, "TLS certificate was refused"},
		{"tls_plain_http", nil, wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), false, CodeProviderUnavailable, false, true, "plain-HTTP"},
		{"tls_remote_alert", nil, wrap(&net.OpError{Op: "remote error", Err: errors.New("tls: handshake failure")}), false, CodeProviderUnavailable, false, false, "refused the TLS handshake"},
		{"tls_handshake_timeout", nil, wrap(timeoutErr{}), false, CodeProviderUnavailable, false, false, "before the request was sent"},
		{"reset_before_send", nil, wrap(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), false, CodeProviderUnavailable, false, false, "before the request was sent"},
		{"reset_after_send", nil, wrap(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true, CodeProviderUnavailable, true, false, "after the request was sent"},
		{"eof_after_send", nil, wrap(io.EOF), true, CodeProviderUnavailable, true, false, "after the request was sent"},
		{"read_timeout_after_send", nil, wrap(timeoutErr{}), true, CodeProviderTimeout, true, false, "timed out"},
		{"client_cancelled", cancelled, wrap(context.Canceled), true, CodeClientCancelled, true, false, "client closed"},
		{"deadline", expired, wrap(context.DeadlineExceeded), true, CodeProviderTimeout, true, false, "deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			e := TransportError(ctx, "acme", tt.err, tt.sent)
			if e.Code != tt.code || e.Sent != tt.wantSent || e.NoClientRetry != tt.noClient || e.Provider != "acme" {
				t.Errorf("TransportError(%v, sent=%v) = %s sent=%v noClientRetry=%v, want %s sent=%v noClientRetry=%v",
					tt.err, tt.sent, e.Code, e.Sent, e.NoClientRetry, tt.code, tt.wantSent, tt.noClient)
			}
			if !strings.Contains(e.Message, tt.messageHint) {
				t.Errorf("TransportError(%v).Message = %q, want it to say %q", tt.err, e.Message, tt.messageHint)
			}
			if strings.Contains(e.Error(), "api.example.com/v1") {
				t.Errorf("TransportError(%v).Error() = %q, want no upstream URL", tt.err, e.Error())
			}
		})
	}
}
