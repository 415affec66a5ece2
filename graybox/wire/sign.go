package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Signing headers.
const (
	HeaderTimestamp = "X-Ghostgate-Timestamp" // unix milliseconds, decimal
	HeaderSignature = "X-Ghostgate-Signature" // lower-case hex HMAC-SHA256
)

// Defaults of a Verifier.
const (
	DefaultWindow     = 60 * time.Second // accepted clock skew, either way
	DefaultMaxEntries = 100_000          // replay cache bound (~10 MB at worst)
	MinSecretBytes    = 16               // shorter shared secrets are refused
)

// responseMethod stands in for the method when a response is signed. In its place as "path" a
// response has the request's hex signature, while a request's path always starts with "/", so a
// response signature can never be passed off as a request signature (or the other way round).
const responseMethod = "RESPONSE"

// ErrUnauthorized is wrapped by every verification failure; a server answers 401 to all of them.
var ErrUnauthorized = errors.New("wire: unauthorized")

type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return ErrUnauthorized }

// Verification failures. Each wraps ErrUnauthorized.
var (
	// ErrMissingSignature: a signing header is missing or malformed.
	ErrMissingSignature error = &authError{"wire: missing or malformed signature headers"}
	// ErrBadSignature: the signature does not match the request and the shared secret.
	ErrBadSignature error = &authError{"wire: bad signature"}
	// ErrStaleTimestamp: the timestamp is outside the window (see *SkewError for the values).
	ErrStaleTimestamp error = &authError{"wire: timestamp outside the accepted window"}
	// ErrReplay: the same signature was already accepted within the window.
	ErrReplay error = &authError{"wire: replayed request"}
	// ErrReplayCacheFull: the replay cache holds MaxEntries live signatures; the request is
	// refused rather than remembered nowhere (fail closed).
	ErrReplayCacheFull error = &authError{"wire: replay cache full"}
)

// SkewError is an ErrStaleTimestamp with the values that caused it.
type SkewError struct {
	Timestamp time.Time // what the request said
	Now       time.Time // the verifier's clock
	Window    time.Duration
}

func (e *SkewError) Error() string {
	return fmt.Sprintf("wire: timestamp %s is %s from now, outside ±%s",
		e.Timestamp.UTC().Format(time.RFC3339Nano), e.Timestamp.Sub(e.Now), e.Window)
}

// Unwrap makes errors.Is(err, ErrStaleTimestamp) and errors.Is(err, ErrUnauthorized) hold.
func (e *SkewError) Unwrap() error { return ErrStaleTimestamp }

// ErrBodyTooLarge is returned by ReadBody for a body over MaxBodyBytes.
var ErrBodyTooLarge = fmt.Errorf("wire: body larger than %d bytes", MaxBodyBytes)

// ReadBody reads at most MaxBodyBytes of r.
func ReadBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("wire: read body: %w", err)
	}
	if len(b) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}

// Signature computes hex(HMAC-SHA256(secret, method + "\n" + path + "\n" + timestamp + "\n" +
// body)), the value of HeaderSignature. timestamp is the decimal unix-millisecond string sent in
// HeaderTimestamp.
func Signature(secret []byte, method, path, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	// hash.Hash writes never fail.
	_, _ = io.WriteString(mac, method+"\n"+path+"\n"+timestamp+"\n")
	_, _ = mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// signedPath is the path part of the signed message: the escaped path, plus "?query" when the
// URL has one, so that neither can be changed in flight.
func signedPath(req *http.Request) string {
	p := req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		p += "?" + req.URL.RawQuery
	}
	return p
}

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Sign sets HeaderTimestamp and HeaderSignature on req for body (which must be what req will
// send; nil for no body), as of now.
func Sign(req *http.Request, body, secret []byte, now time.Time) {
	ts := millis(now)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Signature(secret, req.Method, signedPath(req), ts, body))
}

// SignResponse sets the signing headers on h (a response's header) for a response body that
// answers req. The message is "RESPONSE\n" + the request's signature + "\n" + timestamp + "\n" +
// body: binding the response to the (unique, replay-checked) request means a recorded response
// cannot be passed off as the answer to another request.
func SignResponse(h http.Header, req *http.Request, body, secret []byte, now time.Time) {
	ts := millis(now)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Signature(secret, responseMethod, req.Header.Get(HeaderSignature), ts, body))
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Secret     []byte        // the shared secret, at least MinSecretBytes
	Window     time.Duration // accepted skew either way; 0 means DefaultWindow
	MaxEntries int           // replay cache bound; 0 means DefaultMaxEntries
}

// Validate checks the configuration.
func (c VerifierConfig) Validate() error {
	switch {
	case len(c.Secret) < MinSecretBytes:
		return fmt.Errorf("wire: secret must be at least %d bytes, got %d", MinSecretBytes, len(c.Secret))
	case c.Window < 0:
		return fmt.Errorf("wire: negative window %s", c.Window)
	case c.MaxEntries < 0:
		return fmt.Errorf("wire: negative max entries %d", c.MaxEntries)
	}
	return nil
}

// Verifier checks signed requests and refuses replays. It remembers each accepted signature
// until its timestamp leaves the window (after which the timestamp check alone refuses it), so
// its memory is bounded by the request rate times the window, and by MaxEntries. Safe for
// concurrent use.
type Verifier struct {
	secret []byte
	window time.Duration
	max    int

	mu        sync.Mutex
	seen      map[string]time.Time // signature → when it may be forgotten
	nextPrune time.Time
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		secret: append([]byte(nil), cfg.Secret...),
		window: cfg.Window,
		max:    cfg.MaxEntries,
		seen:   make(map[string]time.Time),
	}
	if v.window == 0 {
		v.window = DefaultWindow
	}
	if v.max == 0 {
		v.max = DefaultMaxEntries
	}
	return v, nil
}

// Window is the accepted clock skew.
func (v *Verifier) Window() time.Duration { return v.window }

// Verify checks req's signature over body as of now: ErrMissingSignature, ErrBadSignature, a
// *SkewError (ErrStaleTimestamp), ErrReplay or ErrReplayCacheFull, all wrapping ErrUnauthorized;
// nil when the request is authentic and new, which also records it.
func (v *Verifier) Verify(req *http.Request, body []byte, now time.Time) error {
	sig, ts, err := v.check(req.Header, req.Method, signedPath(req), body, now)
	if err != nil {
		return err
	}
	return v.remember(sig, ts, now)
}

// VerifyResponse checks the signature of resp (whose body is body) as SignResponse made it for
// req, and its timestamp. It needs no replay cache: the signature is bound to req's.
func (v *Verifier) VerifyResponse(resp *http.Response, req *http.Request, body []byte, now time.Time) error {
	_, _, err := v.check(resp.Header, responseMethod, req.Header.Get(HeaderSignature), body, now)
	return err
}

// check verifies the signature, then the window. The signature comes first so that an
// unauthenticated caller learns nothing about the verifier's clock.
func (v *Verifier) check(h http.Header, method, path string, body []byte, now time.Time) (string, time.Time, error) {
	tsText, sigText := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	ms, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || tsText == "" {
		return "", time.Time{}, ErrMissingSignature
	}
	got, err := hex.DecodeString(sigText)
	if err != nil || len(got) != sha256.Size {
		return "", time.Time{}, ErrMissingSignature
	}
	want, _ := hex.DecodeString(Signature(v.secret, method, path, tsText, body))
	if !hmac.Equal(got, want) {
		return "", time.Time{}, ErrBadSignature
	}
	ts := time.UnixMilli(ms)
	if d := ts.Sub(now); d > v.window || d < -v.window {
		return "", time.Time{}, &SkewError{Timestamp: ts, Now: now, Window: v.window}
	}
	// Canonical (lower-case) hex as the cache key: "AB.." and "ab.." are the same signature.
	return hex.EncodeToString(got), ts, nil
}

func (v *Verifier) remember(sig string, ts, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.seen[sig]; ok {
		return ErrReplay
	}
	if len(v.seen) >= v.max || !now.Before(v.nextPrune) {
		v.prune(now)
	}
	if len(v.seen) >= v.max {
		return ErrReplayCacheFull
	}
	v.seen[sig] = ts.Add(v.window)
	return nil
}

// prune forgets signatures whose timestamps have left the window. It runs at most once per
// window unless the cache is full, so its cost is amortized over the requests.
func (v *Verifier) prune(now time.Time) {
	for sig, until := range v.seen {
		if now.After(until) {
			delete(v.seen, sig)
		}
	}
	v.nextPrune = now.Add(v.window)
}

// Len is the number of signatures the replay cache holds.
func (v *Verifier) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
}
