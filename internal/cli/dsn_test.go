package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Issue 10: `--dsn 'u:pw@…'` put the password where `ps` shows it. It is refused, with how to
// pass it safely; --allow-password-in-flag accepts it, and a DSN in $GHOSTGATE_DSN is fine.
func TestPasswordInDSNFlagRefused(t *testing.T) {
	d := newOrders(t)
	p := d.Env.Primary
	withPw := p.DSN(d.Name)
	ddl := "ALTER TABLE orders ADD COLUMN c INT NULL"

	r := run(t, "", "plan", "--dsn", withPw, ddl)
	require.Equal(t, ExitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "--dsn carries a password")
	require.Contains(t, r.stderr, "$GHOSTGATE_PASSWORD")
	require.NotContains(t, r.stderr, ":"+p.Password+"@", "the error does not repeat the password")

	r = run(t, "", "plan", "--dsn", withPw, "--allow-password-in-flag", ddl)
	require.Equal(t, ExitOK, r.code, r.stderr)

	t.Setenv(EnvPassword, p.Password)
	r = run(t, "", "plan", "--dsn", p.User+"@tcp("+p.Addr()+")/"+d.Name, ddl)
	require.Equal(t, ExitOK, r.code, "a DSN without the password: %s", r.stderr)

	t.Setenv(EnvPassword, "")
	t.Setenv(EnvDSN, withPw)
	r = run(t, "", "plan", ddl)
	require.Equal(t, ExitOK, r.code, "the DSN in the environment: %s", r.stderr)
}
