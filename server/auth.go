package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Token is one API bearer token and the name the event log records for the calls it makes.
type Token struct {
	Name   string // e.g. "ops", "ci"; "api" for the unnamed HandlerOptions.Token
	Secret string // at least 16 characters
}

// MinTokenLen is the shortest bearer token accepted.
const MinTokenLen = 16

// validateTokens reports an empty, short, unnamed or doubled token.
func validateTokens(ts []Token) error {
	if len(ts) == 0 {
		return errors.New("server: no API token")
	}
	seen := map[string]bool{}
	for _, t := range ts {
		switch {
		case len(t.Secret) < MinTokenLen:
			return fmt.Errorf("server: the API token %q must be at least %d characters", t.Name, MinTokenLen)
		case t.Name == "" || strings.ContainsFunc(t.Name, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }):
			return fmt.Errorf("server: API token name %q: want a word", t.Name)
		case seen[t.Name]:
			return fmt.Errorf("server: two API tokens are named %q", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// tokens is every token the API takes.
func (o HandlerOptions) tokens() []Token {
	ts := o.Tokens
	if o.Token != "" {
		ts = append([]Token{{Name: "api", Secret: o.Token}}, ts...)
	}
	return ts
}

// tokenName returns the name of the bearer token r carries ("" when it carries none we know).
// Every token is compared, in constant time, so the answer's timing says nothing of which.
func (a *api) tokenName(r *http.Request) string {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	got = strings.TrimSpace(got)
	name := ""
	for _, t := range a.opts.tokens() {
		if subtle.ConstantTimeCompare([]byte(got), []byte(t.Secret)) == 1 {
			name = t.Name
		}
	}
	return name
}

func (a *api) authorized(r *http.Request) bool { return a.tokenName(r) != "" }

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ghostgate"`)
	writeJSON(w, http.StatusUnauthorized, client.ErrorResponse{Error: "missing or wrong bearer token", Code: client.CodeUnauthorized})
}

// write guards a state-changing endpoint: the token is checked before the body is read.
func (a *api) write(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r) {
			unauthorized(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, wire.MaxBodyBytes)
		h(w, r)
	})
}

// read guards a read-only endpoint: open on loopback, the token otherwise.
func (a *api) read(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.opts.OpenReads && !a.authorized(r) {
			unauthorized(w)
			return
		}
		h(w, r)
	})
}

// maxActor bounds the X-Ghostgate-Actor a caller may give.
const maxActor = 64

// caller names who asked, for the event log: the person or job the client says it acts for
// (client.HeaderActor: `--as`, by default user@host), the token's name, and the address, as
// "alice@laptop (token ops, 127.0.0.1)", or "token ops (127.0.0.1)" when the client names no
// actor (issue 13: every action read "api (127.0.0.1)"). The actor is the caller's claim; the
// token's name is what the controller verified.
func (a *api) caller(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	token := ""
	if name := a.tokenName(r); name != "" {
		token = "token " + name
	}
	actor := strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(r.Header.Get(client.HeaderActor)))
	if len(actor) > maxActor {
		actor = actor[:maxActor]
	}
	switch {
	case actor != "" && token != "":
		return actor + " (" + token + ", " + host + ")"
	case actor != "":
		return actor + " (" + host + ")"
	case token != "":
		return token + " (" + host + ")"
	}
	return "api (" + host + ")"
}
