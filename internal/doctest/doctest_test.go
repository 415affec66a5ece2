package doctest_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/doctest"
)

const doc = "# t\n\n```sh\nX=1\necho hello $X\n#> hello 1\n```\n\n```text\nout\n```\n\n" +
	"<!-- doctest: skip needs a Kubernetes cluster -->\n```bash\nkubectl apply -f x\n```\n\n" +
	"````sh\necho \"$X\" world # ```\n#> 1 … world\n````\n"

func TestParse(t *testing.T) {
	bs, err := doctest.Parse("d.md", []byte(doc))
	require.NoError(t, err)
	require.Len(t, bs, 4)
	require.Equal(t, 3, bs[0].Line)
	require.True(t, bs[0].Runs())
	require.Equal(t, []string{"hello 1"}, bs[0].Expected())
	require.False(t, bs[1].Command())
	require.Equal(t, "needs a Kubernetes cluster", bs[2].Skip)
	require.True(t, bs[2].Command())
	require.False(t, bs[2].Runs())
	require.Equal(t, "echo \"$X\" world # ```\n#> 1 … world\n", bs[3].Body, "a shorter fence inside does not close")
}

func TestParseRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"no language":    {"```\nls\n```\n", "d.md:1: a fenced block needs a language"},
		"unknown":        {"```console\n$ ls\n```\n", `d.md:1: language "console" is neither`},
		"skip no reason": {"<!-- doctest: skip -->\n```sh\nls\n```\n", "d.md:1: a doctest skip needs a reason"},
		"detached":       {"<!-- doctest: skip why -->\n\n```sh\nls\n```\n", "d.md:1: a doctest marker must be on the line just before a fence"},
		"skip shown":     {"<!-- doctest: skip why -->\n```text\nls\n```\n", "a doctest skip marks a command block"},
		"unknown marker": {"<!-- doctest: run -->\n```sh\nls\n```\n", `unknown doctest marker "run"`},
		"unclosed":       {"x\n```sh\nls\n", "d.md:2: the fence is never closed"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := doctest.Parse("d.md", []byte(tc.src))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestMatches(t *testing.T) {
	out := `{"error":"server: blocked by findings: [x.orders: destructive_drop_column]","plans":[{}]}`
	require.True(t, doctest.Matches(`{"error":"server: blocked by findings: […]","plans":[…]}`, out))
	require.True(t, doctest.Matches(`destructive_drop_column`, out))
	require.False(t, doctest.Matches(`{"error":"missing token"}`, out))
	require.False(t, doctest.Matches(`plans … blocked`, out), "pieces in order")
	require.True(t, doctest.Matches("{\"a\":1}\n401", "x\n{\"a\":1}\n401\n"))
	require.False(t, doctest.Matches("{\"a\":1}\n401", "{\"a\":1}\n400\n401\n"), "consecutive lines")
	require.True(t, doctest.Matches("list:\ndrop with: x", "list:\n  drop with: x\n"), "indentation is free")
	require.True(t, doctest.Matches("HTTP/1.1 405 Method Not Allowed\nAllow: GET", "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"), "CRLF")
	b := doctest.Block{Lang: "sh", Body: "curl x\n#> {}\n#> 401\necho\n#> done\n"}
	require.Equal(t, []string{"{}\n401", "done"}, b.Expected())
}

func session(t *testing.T) *doctest.Session {
	t.Helper()
	s, err := doctest.NewSession(doctest.Config{Dir: t.TempDir(), Env: os.Environ(), Timeout: 20 * time.Second,
		Rewrite: func(s string) string { return strings.ReplaceAll(s, "8470", "9999") }})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(5 * time.Second) })
	return s
}

func TestSessionRuns(t *testing.T) {
	bs, err := doctest.Parse("d.md", []byte(doc))
	require.NoError(t, err)
	s := session(t)
	ctx := context.Background()
	r := s.Run(ctx, bs[0])
	require.NoError(t, r.Err, r.Output)
	r = s.Run(ctx, bs[3])
	require.NoError(t, r.Err, "X is passed on to the next block: %s", r.Output)
	require.Error(t, s.Run(ctx, bs[2]).Err, "a skipped block does not run")
}

func TestSessionFails(t *testing.T) {
	s := session(t)
	ctx := context.Background()
	for name, tc := range map[string]struct{ body, want string }{
		"exit status":    {"true\nfalse\necho unreachable\n", "exit status 1"},
		"pipe":           {"false | cat\n", "exit status 1"},
		"missing output": {"echo a\n#> b\n", `the output lacks "b"`},
		"rewritten":      {"echo 8470\n#> 9999x\n", `the output lacks "9999x"`},
	} {
		t.Run(name, func(t *testing.T) {
			r := s.Run(ctx, doctest.Block{File: "d.md", Line: 1, Lang: "sh", Body: tc.body})
			require.ErrorContains(t, r.Err, tc.want)
			require.NotContains(t, r.Output, "unreachable")
		})
	}
}

// TestSessionStopsBackground: a server a block leaves running is stopped by Close, and Run does
// not wait for it.
func TestSessionStopsBackground(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	s, err := doctest.NewSession(doctest.Config{Dir: dir, Env: os.Environ(), Timeout: 10 * time.Second})
	require.NoError(t, err)
	began := time.Now()
	r := s.Run(context.Background(), doctest.Block{File: "d.md", Line: 1, Lang: "sh",
		Body: "sleep 300 &\necho $! > " + pidFile + "\n"})
	require.NoError(t, r.Err, r.Output)
	require.Less(t, time.Since(began), 5*time.Second)
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, 0), "still running before Close")
	s.Close(5 * time.Second)
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 5*time.Second, 20*time.Millisecond)
}

// TestSessionRewrites: the text that runs and the expected output are both rewritten.
func TestSessionRewrites(t *testing.T) {
	s := session(t)
	r := s.Run(context.Background(), doctest.Block{File: "d.md", Line: 1, Lang: "sh", Body: "echo 8470\n#> 8470\n"})
	require.NoError(t, r.Err, r.Output)
	require.Equal(t, "9999\n", r.Output)
}

func TestSessionTimeout(t *testing.T) {
	s, err := doctest.NewSession(doctest.Config{Dir: t.TempDir(), Env: os.Environ(), Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close(time.Second)
	r := s.Run(context.Background(), doctest.Block{File: "d.md", Line: 1, Lang: "sh", Body: "sleep 30\n"})
	require.ErrorContains(t, r.Err, "no end after")
}
