package cli

import (
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/ghostgate/ghostgate/server"
)

// parseTokens reads a token file: one token a line, "NAME TOKEN" (the name the event log records
// for what the token does: "ops", "ci") or a bare TOKEN (named "api"); '#' starts a comment line.
func parseTokens(text, what string) ([]server.Token, error) {
	var out []server.Token
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		switch len(f) {
		case 1:
			out = append(out, server.Token{Name: "api", Secret: f[0]})
		case 2:
			out = append(out, server.Token{Name: f[0], Secret: f[1]})
		default:
			return nil, usageErrorf("%s line %d: want `NAME TOKEN` or `TOKEN`", what, n+1)
		}
	}
	return out, nil
}

// serveTokens are the tokens of `migrate serve`: every line of --token-file, or $GHOSTGATE_TOKEN.
func serveTokens(file string) ([]server.Token, error) {
	if file == "" {
		if t := strings.TrimSpace(os.Getenv(EnvToken)); t != "" {
			return []server.Token{{Name: "api", Secret: t}}, nil
		}
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	return parseTokens(string(b), "--token-file "+file)
}

// clientToken is the token a client sends: the first of --token-file (which may be serve's own
// file), or $GHOSTGATE_TOKEN.
func clientToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(EnvToken)), nil
	}
	ts, err := serveTokens(file)
	if err != nil || len(ts) == 0 {
		return "", err
	}
	return ts[0].Secret, nil
}

// defaultActor is who a client says it acts for when --as is not given: user@host.
func defaultActor() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	switch {
	case name != "" && host != "":
		return name + "@" + host
	case name != "":
		return name
	}
	return host
}
