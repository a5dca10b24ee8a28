package bedrocktest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Service is the SigV4 service name the credential scope must name.
const Service = "bedrock"

// MaxClockSkew is how far X-Amz-Date may be from the Server's clock, as
// AWS allows.
const MaxClockSkew = 5 * time.Minute

const amzDateFormat = "20060102T150405Z"

// Messages of AWS's signature failures, as the real service words them.
const (
	msgMissingToken  = "Missing Authentication Token"
	msgBadSignature  = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgInvalidToken  = "The security token included in the request is invalid."
	msgMissingDate   = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
	msgAuthHeaderFmt = "Authorization header requires '%s' parameter. Authorization=%s"
)

func sigError(errType, msg string) *apiError {
	return &apiError{http.StatusForbidden, errType, msg}
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseAuthorization(h string) (authorization, *apiError) {
	var a authorization
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, sigError("IncompleteSignatureException", "Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if params[k] == "" {
			return a, sigError("IncompleteSignatureException", fmt.Sprintf(msgAuthHeaderFmt, k, h))
		}
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return a, sigError("IncompleteSignatureException", "Credential should be scoped to a valid region, service and terminated by 'aws4_request'.")
	}
	a.accessKey, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	a.signedHeaders = strings.Split(params["SignedHeaders"], ";")
	a.signature = params["Signature"]
	return a, nil
}

// verifySignature checks r's SigV4 signature as AWS does: it rebuilds the
// request from the headers the client says it signed, signs it with the
// known secret key over the SHA-256 of the body actually received, and
// compares the signatures. A tampered body, header, path, date or a wrong
// secret therefore fails.
func (s *Server) verifySignature(r *http.Request, body []byte) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return sigError("MissingAuthenticationTokenException", msgMissingToken)
	}
	a, e := parseAuthorization(h)
	if e != nil {
		return e
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		return sigError("IncompleteSignatureException", msgMissingDate)
	}
	t, err := time.Parse(amzDateFormat, date)
	if err != nil {
		return sigError("IncompleteSignatureException", fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", date))
	}
	now := time.Now().UTC()
	if now.Sub(t) > MaxClockSkew {
		return sigError("InvalidSignatureException", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			date, now.Add(-MaxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	if t.Sub(now) > MaxClockSkew {
		return sigError("InvalidSignatureException", fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)",
			date, now.Add(MaxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	if a.accessKey != s.access {
		return sigError("UnrecognizedClientException", msgInvalidToken)
	}
	if a.date != t.Format("20060102") {
		return sigError("InvalidSignatureException", fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, t.Format("20060102"), date))
	}
	if a.region != s.region {
		return sigError("InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", a.region))
	}
	if a.service != Service {
		return sigError("InvalidSignatureException", fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", Service))
	}
	if s.token != "" && r.Header.Get("X-Amz-Security-Token") != s.token {
		return sigError("UnrecognizedClientException", msgInvalidToken)
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return sigError("InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if v := r.Header.Get("X-Amz-Content-Sha256"); v != "" && v != hash {
		return &apiError{http.StatusBadRequest, "ValidationException", "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	rq, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		return sigError("InvalidSignatureException", msgBadSignature)
	}
	rq.Host = r.Host
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			rq.ContentLength = r.ContentLength
		default:
			vs := r.Header.Values(name)
			if len(vs) == 0 {
				return sigError("InvalidSignatureException", msgBadSignature)
			}
			rq.Header[http.CanonicalHeaderKey(name)] = vs
		}
	}
	creds := aws.Credentials{AccessKeyID: s.access, SecretAccessKey: s.secret, SessionToken: s.token}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, rq, hash, Service, s.region, t); err != nil {
		return sigError("InvalidSignatureException", msgBadSignature)
	}
	want, _ := parseAuthorization(rq.Header.Get("Authorization"))
	if subtle.ConstantTimeCompare([]byte(want.signature), []byte(a.signature)) != 1 ||
		strings.Join(want.signedHeaders, ";") != strings.Join(a.signedHeaders, ";") {
		return sigError("InvalidSignatureException", msgBadSignature)
	}
	return nil
}
