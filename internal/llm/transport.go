package llm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
)

// TransportError classifies a failure to get a response from a provider
// (no HTTP status came back): the one place where dial, DNS, TLS, reset and
// timeout errors become failure classes, shared by every provider adapter.
// ctx is the context the request was sent with; sent reports whether the
// whole request was written to the connection (httptrace's WroteRequest),
// which decides whether the provider may have processed it.
//
// The classes, as DESIGN.md §3 has them:
//   - the context ended: provider_timeout for a deadline, client_cancelled
//     otherwise (the gateway refines both with its own context causes);
//   - nothing could reach the provider (DNS, refused, connect timeout, a
//     TLS handshake that failed or was reset): provider_unavailable, not
//     sent, so safe to send again;
//   - a TLS certificate or protocol the gateway refuses: also
//     provider_unavailable and not sent, but NoClientRetry, since only an
//     operator can fix it (another target may still serve the request);
//   - a timeout after the request was written: provider_timeout, sent;
//   - anything else (a reset, an EOF): provider_unavailable, sent as
//     reported.
func TransportError(ctx context.Context, provider string, err error, sent bool) *Error {
	// The URL in *url.Error is configuration, not needed in the log line.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	e := &Error{Provider: provider, Sent: sent, Err: err}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			e.Code = CodeProviderTimeout
			e.Message = fmt.Sprintf("provider %s did not answer before the request's deadline", provider)
		} else {
			e.Code = CodeClientCancelled
			e.Message = "the client closed the request"
		}
		if cause := context.Cause(ctx); cause != nil && cause != ctxErr {
			e.Err = fmt.Errorf("%w (cause: %w)", err, cause)
		}
		return e
	}
	var (
		ne        net.Error
		op        *net.OpError
		dnsErr    *net.DNSError
		certErr   *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alert     tls.AlertError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
	)
	switch {
	case errors.As(err, &dnsErr):
		e.Code, e.Sent = CodeProviderUnavailable, false
		e.Message = fmt.Sprintf("provider %s could not be reached: its host name did not resolve", provider)
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		e.Code, e.Sent, e.NoClientRetry = CodeProviderUnavailable, false, true
		e.Message = fmt.Sprintf("provider %s could not be reached: its TLS certificate was refused (untrusted, expired or for another host); an operator must check providers.%s.base_url and the provider's certificate", provider, provider)
	case errors.As(err, &recordErr):
		e.Code, e.Sent, e.NoClientRetry = CodeProviderUnavailable, false, true
		e.Message = fmt.Sprintf("provider %s could not be reached: it did not answer the TLS handshake with TLS (is providers.%s.base_url https:// on a plain-HTTP server?)", provider, provider)
	case errors.As(err, &alert), errors.As(err, &op) && op.Op == "remote error":
		e.Code, e.Sent = CodeProviderUnavailable, false
		e.Message = fmt.Sprintf("provider %s could not be reached: it refused the TLS handshake", provider)
	case errors.As(err, &op) && op.Op == "dial":
		e.Code, e.Sent = CodeProviderUnavailable, false
		e.Message = fmt.Sprintf("provider %s could not be reached: connection failed", provider)
		if errors.As(err, &ne) && ne.Timeout() {
			e.Message = fmt.Sprintf("provider %s could not be reached: connection timed out", provider)
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Code, e.Sent = CodeProviderUnavailable, false
		e.Message = fmt.Sprintf("provider %s could not be reached: connection refused", provider)
	case errors.As(err, &ne) && ne.Timeout() && !sent:
		// A connect or TLS handshake timeout: nothing reached the provider.
		e.Code = CodeProviderUnavailable
		e.Message = fmt.Sprintf("provider %s could not be reached: the connection timed out before the request was sent", provider)
	case errors.As(err, &ne) && ne.Timeout():
		e.Code = CodeProviderTimeout
		e.Message = fmt.Sprintf("provider %s timed out", provider)
	default:
		e.Code = CodeProviderUnavailable
		if sent {
			e.Message = fmt.Sprintf("the connection to provider %s failed after the request was sent", provider)
		} else {
			e.Message = fmt.Sprintf("the connection to provider %s failed before the request was sent", provider)
		}
	}
	return e
}
