package e2e_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/doctest"
	"github.com/ghostgate/ghostgate/internal/sandbox"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// The documents whose commands TestDocs runs (issue 13: "every command and example in README.md
// and docs/ must work as written"). A new file in docs/ is picked up by the glob.
var docGlobs = []string{"README.md", "docs/*.md"}

// The databases the documents use, as `make demo` seeds them (scripts/demo.sh), and how the test
// seeds a private copy of each under another name.
var docDatabases = map[string][]string{
	"ghostgate_demo": {"examples/demo/schema.sql", "examples/demo/seed.sql"},
	"ghostgate_shop": {"examples/shop/schema.sql", "-- seed\n" +
		"INSERT INTO orders (id, customer_id, status, amount, updated_at) SELECT seq, seq % 5000, " +
		"ELT(1 + seq % 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled'), (seq % 100000) / 100, NOW(6) " +
		"FROM seq_1_to_20000; ANALYZE TABLE orders"},
}

// TestDocs runs every command block of README.md and docs/*.md (package doctest has the rules of
// the marking) against the sandbox, each document in one shell session of its own, with:
//   - the documented sandbox ports (13306, 13307) replaced by the test sandbox's;
//   - the documented API port 8470 replaced by a free one, which is also the default of `serve
//     --listen` and of the CLI's --server ($GHOSTGATE_LISTEN, $GHOSTGATE_SERVER) in the session;
//   - the demo's databases replaced by private copies seeded as `make demo` seeds them;
//   - a working directory that mirrors the repository (symlinks) with a bin/ of its own, built
//     by `make build`, so that files the commands create (token, change.sql) stay out of the tree.
//
// Whatever a block leaves running (`migrate serve &`) is stopped when the document ends.
func TestDocs(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	var files []string
	for _, g := range docGlobs {
		m, err := filepath.Glob(filepath.Join(root, g))
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.NotEmpty(t, files)
	docs := map[string][]doctest.Block{}
	var problems []string
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		bs, err := doctest.Parse(rel, src)
		if err != nil {
			problems = append(problems, err.Error())
		}
		docs[rel] = bs
	}
	require.Empty(t, problems, "documents that break the doctest rules (see internal/doctest)")

	env := sandboxtest.Env(t)
	bin := t.TempDir()
	build := exec.Command("make", "build")
	build.Dir = mirror(t, root, bin)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "make build: %s", out)

	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) { runDoc(t, root, bin, env, docs[rel]) })
	}
}

// runDoc runs one document's command blocks in order, stopping at the first that fails (the
// later ones build on it).
func runDoc(t *testing.T, root, bin string, env sandbox.Env, blocks []doctest.Block) {
	var runs []doctest.Block
	text := ""
	for _, b := range blocks {
		if b.Runs() {
			runs = append(runs, b)
			text += b.Body
		}
	}
	if len(runs) == 0 {
		t.Logf("no command blocks")
		return
	}
	port := freePort(t)
	names := map[string]string{
		"13306": strconv.Itoa(env.Primary.Port), "13307": strconv.Itoa(env.Replica.Port), "8470": strconv.Itoa(port),
	}
	for name, seed := range docDatabases {
		if strings.Contains(text, name) {
			d := sandboxtest.New(t)
			seedDB(t, root, env, d.Name, seed)
			names[name] = d.Name
		}
	}
	s, err := doctest.NewSession(doctest.Config{
		Dir: mirror(t, root, bin), Env: docEnv(port), Rewrite: rewriter(names), Timeout: 3 * time.Minute,
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(time.Minute) })
	for _, b := range runs {
		r := s.Run(context.Background(), b)
		if r.Err != nil {
			t.Fatalf("%v\n--- ran:\n%s--- output:\n%s", r.Err, r.Script, r.Output)
		}
		t.Logf("%s: ok", b.Where())
	}
}

// mirror makes a directory whose entries are symlinks to the repository's, but for bin.
func mirror(t *testing.T, root, bin string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() != "bin" {
			require.NoError(t, os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())))
		}
	}
	require.NoError(t, os.Symlink(bin, filepath.Join(dir, "bin")))
	return dir
}

// docEnv is the test's environment without the developer's ghostgate settings, plus the API
// address of this document's controller.
func docEnv(port int) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GHOSTGATE_") {
			out = append(out, kv)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return append(out, "GHOSTGATE_LISTEN="+addr, "GHOSTGATE_SERVER=http://"+addr)
}

// rewriter replaces each documented name (a whole word) by the test's.
func rewriter(names map[string]string) func(string) string {
	type sub struct {
		re   *regexp.Regexp
		with string
	}
	var subs []sub
	for from, to := range names {
		subs = append(subs, sub{regexp.MustCompile(`\b` + regexp.QuoteMeta(from) + `\b`), to})
	}
	return func(s string) string {
		for _, x := range subs {
			s = x.re.ReplaceAllLiteralString(s, x.with)
		}
		return s
	}
}

// seedDB loads files (paths in the repository, or SQL text) into db with the mariadb client.
func seedDB(t *testing.T, root string, env sandbox.Env, db string, seed []string) {
	t.Helper()
	for _, s := range seed {
		sqlText := s
		if !strings.Contains(s, "\n") {
			b, err := os.ReadFile(filepath.Join(root, s))
			require.NoError(t, err)
			sqlText = string(b)
		}
		cmd := exec.Command("mariadb", "-h"+env.Primary.Host, "-P"+strconv.Itoa(env.Primary.Port),
			"-u"+env.Primary.User, db)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+env.Primary.Password)
		cmd.Stdin = strings.NewReader(sqlText)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "seeding %s: %s", db, out)
	}
}

// freePort asks the kernel for a free port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
