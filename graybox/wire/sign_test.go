package wire

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ghostgate/ghostgate/graybox/internal/require"
)

var (
	testSecret = []byte("0123456789abcdef-test-secret")
	t0         = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
)

func newVerifier(t *testing.T, cfg VerifierConfig) *Verifier {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	v, err := NewVerifier(cfg)
	require.NoError(t, err)
	return v
}

func signed(method, target string, body []byte, secret []byte, at time.Time) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(string(body)))
	Sign(req, body, secret, at)
	return req
}

// TestSignatureKnownValue pins the wire format: the controller and services built from other
// versions (or other languages) must compute exactly this.
func TestSignatureKnownValue(t *testing.T) {
	// Computed independently: printf 'POST\n/ghostgate/hook\n1700000000000\n{"a":1}' |
	//   openssl dgst -sha256 -hmac 0123456789abcdef
	got := Signature([]byte("0123456789abcdef"), "POST", "/ghostgate/hook", "1700000000000", []byte(`{"a":1}`))
	require.Equal(t, "708e6b301cb7ca153d9fd51ce3d85b9558fd4354249d395c662bd81c61a862fa", got)
}

func TestVerify(t *testing.T) {
	body := []byte(`{"phase":"prepare"}`)
	tests := []struct {
		name string
		req  func() *http.Request
		body []byte
		now  time.Time
		want error
	}{
		{"valid", func() *http.Request { return signed("POST", "/ghostgate/hook", body, testSecret, t0) }, body, t0, nil},
		{"valid at the window's past edge", func() *http.Request { return signed("POST", "/x", body, testSecret, t0) }, body, t0.Add(60 * time.Second), nil},
		{"valid at the window's future edge", func() *http.Request { return signed("POST", "/x", body, testSecret, t0) }, body, t0.Add(-60 * time.Second), nil},
		{"valid GET without body", func() *http.Request { return signed("GET", "/v1/participants/a/pending", nil, testSecret, t0) }, nil, t0, nil},
		{"valid with query", func() *http.Request { return signed("GET", "/x?a=1", nil, testSecret, t0) }, nil, t0, nil},
		{"too old", func() *http.Request { return signed("POST", "/x", body, testSecret, t0) }, body, t0.Add(61 * time.Second), ErrStaleTimestamp},
		{"too far in the future", func() *http.Request { return signed("POST", "/x", body, testSecret, t0) }, body, t0.Add(-61 * time.Second), ErrStaleTimestamp},
		{"wrong secret", func() *http.Request { return signed("POST", "/x", body, []byte("another-secret-0123456"), t0) }, body, t0, ErrBadSignature},
		{"body changed", func() *http.Request { return signed("POST", "/x", body, testSecret, t0) }, []byte(`{"phase":"commit"}`), t0, ErrBadSignature},
		{"path changed", func() *http.Request {
			r := signed("POST", "/x", body, testSecret, t0)
			r.URL.Path = "/y"
			return r
		}, body, t0, ErrBadSignature},
		{"query changed", func() *http.Request {
			r := signed("GET", "/x?a=1", nil, testSecret, t0)
			r.URL.RawQuery = "a=2"
			return r
		}, nil, t0, ErrBadSignature},
		{"method changed", func() *http.Request {
			r := signed("POST", "/x", body, testSecret, t0)
			r.Method = "PUT"
			return r
		}, body, t0, ErrBadSignature},
		{"timestamp changed", func() *http.Request {
			r := signed("POST", "/x", body, testSecret, t0)
			r.Header.Set(HeaderTimestamp, "1")
			return r
		}, body, t0, ErrBadSignature},
		{"no headers", func() *http.Request { return httptest.NewRequest("POST", "/x", nil) }, body, t0, ErrMissingSignature},
		{"timestamp not a number", func() *http.Request {
			r := signed("POST", "/x", body, testSecret, t0)
			r.Header.Set(HeaderTimestamp, "yesterday")
			return r
		}, body, t0, ErrMissingSignature},
		{"signature not hex", func() *http.Request {
			r := signed("POST", "/x", body, testSecret, t0)
			r.Header.Set(HeaderSignature, "zz")
			return r
		}, body, t0, ErrMissingSignature},
		{"signature truncated", func() *http.Request {
			r := signed("POST", "/x", body, testSecret, t0)
			r.Header.Set(HeaderSignature, r.Header.Get(HeaderSignature)[:32])
			return r
		}, body, t0, ErrMissingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, VerifierConfig{})
			err := v.Verify(tt.req(), tt.body, tt.now)
			if tt.want == nil {
				require.NoError(t, err)
				require.Equal(t, 1, v.Len())
				return
			}
			require.ErrorIs(t, err, tt.want)
			require.ErrorIs(t, err, ErrUnauthorized)
			require.Zero(t, v.Len(), "a refused request must not be remembered")
		})
	}
}

func TestVerifySkewErrorFields(t *testing.T) {
	v := newVerifier(t, VerifierConfig{Window: 5 * time.Second})
	err := v.Verify(signed("POST", "/x", nil, testSecret, t0), nil, t0.Add(10*time.Second))
	var skew *SkewError
	require.ErrorAs(t, err, &skew)
	require.Equal(t, t0, skew.Timestamp.UTC())
	require.Equal(t, t0.Add(10*time.Second), skew.Now)
	require.Equal(t, 5*time.Second, skew.Window)
}

func TestVerifyReplay(t *testing.T) {
	body := []byte(`{}`)
	v := newVerifier(t, VerifierConfig{Window: 10 * time.Second})
	req := signed("POST", "/x", body, testSecret, t0)
	require.NoError(t, v.Verify(req, body, t0))
	// The same request again, within the window: refused.
	require.ErrorIs(t, v.Verify(req, body, t0.Add(time.Second)), ErrReplay)
	// Upper-case hex is the same signature, not a new one.
	req.Header.Set(HeaderSignature, strings.ToUpper(req.Header.Get(HeaderSignature)))
	require.ErrorIs(t, v.Verify(req, body, t0.Add(2*time.Second)), ErrReplay)
	// After the window the timestamp check refuses it even once the cache forgot it.
	require.ErrorIs(t, v.Verify(req, body, t0.Add(11*time.Second)), ErrStaleTimestamp)
	// A fresh signature of the same content is a new request.
	require.NoError(t, v.Verify(signed("POST", "/x", body, testSecret, t0.Add(time.Millisecond)), body, t0))
}

func TestVerifierBoundedMemory(t *testing.T) {
	v := newVerifier(t, VerifierConfig{Window: time.Second, MaxEntries: 3})
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		require.NoError(t, v.Verify(signed("POST", "/x", nil, testSecret, at), nil, at))
	}
	// Full of live signatures: fail closed.
	at := t0.Add(10 * time.Millisecond)
	require.ErrorIs(t, v.Verify(signed("POST", "/x", nil, testSecret, at), nil, at), ErrReplayCacheFull)
	require.Equal(t, 3, v.Len())
	// Once they left the window they are forgotten and new requests pass.
	later := t0.Add(3 * time.Second)
	require.NoError(t, v.Verify(signed("POST", "/x", nil, testSecret, later), nil, later))
	require.Equal(t, 1, v.Len())
	// Periodic pruning also runs when the cache is not full.
	muchLater := later.Add(5 * time.Second)
	require.NoError(t, v.Verify(signed("POST", "/x", nil, testSecret, muchLater), nil, muchLater))
	require.Equal(t, 1, v.Len())
}

func TestSignResponse(t *testing.T) {
	v := newVerifier(t, VerifierConfig{})
	req := signed("POST", HookPath, []byte(`{}`), testSecret, t0)
	body := []byte(`{"ready":true}`)
	rec := httptest.NewRecorder()
	SignResponse(rec.Header(), req, body, testSecret, t0)
	resp := rec.Result()

	require.NoError(t, v.VerifyResponse(resp, req, body, t0))
	require.ErrorIs(t, v.VerifyResponse(resp, req, []byte(`{"ready":false}`), t0), ErrBadSignature)
	other := signed("POST", HookPath, []byte(`{}`), testSecret, t0.Add(time.Millisecond))
	require.ErrorIs(t, v.VerifyResponse(resp, other, body, t0), ErrBadSignature, "bound to its request")
	require.ErrorIs(t, v.VerifyResponse(resp, req, body, t0.Add(time.Hour)), ErrStaleTimestamp)
	// A response signature is never a valid request signature.
	fake := httptest.NewRequest("RESPONSE", "/", nil)
	fake.Header = resp.Header.Clone()
	require.ErrorIs(t, v.Verify(fake, body, t0), ErrBadSignature)
}

func TestVerifierConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  VerifierConfig
		ok   bool
	}{
		{"defaults", VerifierConfig{Secret: testSecret}, true},
		{"short secret", VerifierConfig{Secret: []byte("short")}, false},
		{"negative window", VerifierConfig{Secret: testSecret, Window: -time.Second}, false},
		{"negative max", VerifierConfig{Secret: testSecret, MaxEntries: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.cfg)
			require.Equal(t, tt.ok, err == nil, "err: %v", err)
		})
	}
	v := newVerifier(t, VerifierConfig{})
	require.Equal(t, DefaultWindow, v.Window())
}

func TestReadBody(t *testing.T) {
	b, err := ReadBody(strings.NewReader("abc"))
	require.NoError(t, err)
	require.Equal(t, "abc", string(b))
	_, err = ReadBody(strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)))
	require.True(t, errors.Is(err, ErrBodyTooLarge))
}
