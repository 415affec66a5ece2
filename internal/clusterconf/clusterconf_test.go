package clusterconf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const good = `{
  "state": {"host": "db-state", "port": 3306, "user": "gg", "password_env": "GG_STATE_PW"},
  "clusters": [
    {"name": "shop", "primary": {"host": "shop-1", "port": 3306, "user": "gg", "password_file": "/run/secrets/shop"},
     "replicas": ["shop-2:3306"], "database": "shop", "max_concurrent": 2},
    {"name": "billing", "primary": {"host": "bill-1", "port": 3307, "user": "gg", "password_env": "GG_BILLING_PW"}, "on_primary": true}
  ]
}`

func TestParse(t *testing.T) {
	c, err := Parse([]byte(good))
	require.NoError(t, err)
	require.Len(t, c.Clusters, 2)
	shop, ok := c.Cluster("shop")
	require.True(t, ok)
	assert.Equal(t, "shop-1:3306", shop.Primary.Addr())
	assert.Equal(t, 2, shop.MaxConcurrent)
	assert.Equal(t, "GG_STATE_PW", c.State.PasswordEnv)
	_, ok = c.Cluster("nope")
	assert.False(t, ok)
}

func TestParseRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"inline password": {`{"clusters":[{"name":"a","primary":{"host":"h","port":1,"user":"u","password":"hunter2"},"on_primary":true}]}`,
			"a password is written in the file: give it by reference, password_file (a file holding it) or password_env (an environment variable holding it) (at .clusters[0].primary.password)"},
		"inline state password": {`{"state":{"host":"h","port":1,"user":"u","Password":"x"},"clusters":[]}`, "(at .state.Password)"},
		"unknown key":           {`{"clusters":[],"clustres":[]}`, `unknown field "clustres"`},
		"no cluster":            {`{"clusters":[]}`, "no cluster"},
		"bad name":              {`{"clusters":[{"name":"a b","primary":{"host":"h","port":1,"user":"u"},"on_primary":true}]}`, `name "a b" must be`},
		"twice":                 {`{"clusters":[{"name":"a","primary":{"host":"h","port":1,"user":"u"},"on_primary":true},{"name":"a","primary":{"host":"h","port":1,"user":"u"},"on_primary":true}]}`, `"a" is given twice`},
		"no replica":            {`{"clusters":[{"name":"a","primary":{"host":"h","port":1,"user":"u"}}]}`, "no replica"},
		"bad port":              {`{"clusters":[{"name":"a","primary":{"host":"h","port":0,"user":"u"},"on_primary":true}]}`, "port 0 must be 1-65535"},
		"both refs":             {`{"clusters":[{"name":"a","primary":{"host":"h","port":1,"user":"u","password_file":"f","password_env":"E"},"on_primary":true}]}`, "not both"},
		"bad replica":           {`{"clusters":[{"name":"a","primary":{"host":"h","port":1,"user":"u"},"replicas":["nohost"]}]}`, `replica "nohost" is not host:port`},
		"not json":              {`clusters: []`, "not JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := Parse([]byte(`{"clusters":[{"name":"a","primary":{"host":"h","port":1,"user":"u","password":"x"},"on_primary":true}]}`))
	assert.ErrorIs(t, err, ErrInlinePassword)
	_, err = Parse([]byte(`{"clusters":[]}`))
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestPasswordByReference(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(file, []byte("s3cret\nignored\n"), 0o600))
	pw, err := Server{Host: "h", Port: 1, User: "u", PasswordFile: file}.Password()
	require.NoError(t, err)
	assert.Equal(t, "s3cret", pw)
	t.Setenv("GG_TEST_PW", "from-env")
	pw, err = Server{Host: "h", Port: 1, User: "u", PasswordEnv: "GG_TEST_PW"}.Password()
	require.NoError(t, err)
	assert.Equal(t, "from-env", pw)
	_, err = Server{Host: "h", Port: 1, User: "u", PasswordEnv: "GG_TEST_PW_UNSET"}.Password()
	assert.ErrorContains(t, err, "$GG_TEST_PW_UNSET is not set")
	pw, err = Server{Host: "h", Port: 1, User: "u"}.Password()
	require.NoError(t, err)
	assert.Empty(t, pw)
}
