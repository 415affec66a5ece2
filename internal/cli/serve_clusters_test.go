package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/internal/clusterconf"
	"github.com/ghostgate/ghostgate/internal/sandbox"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

// orders creates the orders table of newOrders in a database of its own on env's primary.
func ordersOn(t *testing.T, env sandbox.Env) *sandboxtest.DB {
	t.Helper()
	d := sandboxtest.NewOn(t, env)
	d.Exec(t, `CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, note VARCHAR(100), qty INT NOT NULL)`,
		`INSERT INTO orders (customer_id, note, qty) SELECT seq % 10, 'n', 1 FROM seq_1_to_2000`)
	d.WaitReplica(t)
	return d
}

// TestServeClusters: one `migrate serve --clusters FILE` runs migrations on two clusters (the
// sandbox and an isolated pair), its state on the first; each migration runs on the cluster it
// was submitted for, is listed by cluster, and the metrics carry the cluster label. An inline
// password in the file is refused at start, naming where it is.
func TestServeClusters(t *testing.T) {
	a := ordersOn(t, sandboxtest.Env(t))
	b := ordersOn(t, sandboxtest.Isolated(t, "cli-clusters"))
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "a.password")
	require.NoError(t, os.WriteFile(pwFile, []byte(a.Env.Primary.Password+"\n"), 0o600))
	t.Setenv("GG_TEST_CLUSTER_B_PW", b.Env.Primary.Password)
	stateDB := "_ggc_" + a.Name
	if len(stateDB) > 64 {
		stateDB = stateDB[:64]
	}
	t.Cleanup(func() { _, _ = a.Primary.Exec("DROP DATABASE IF EXISTS `" + stateDB + "`") })
	server := func(e sandbox.Server) clusterconf.Server {
		return clusterconf.Server{Host: e.Host, Port: e.Port, User: e.User}
	}
	pa, pb := server(a.Env.Primary), server(b.Env.Primary)
	pa.PasswordFile, pb.PasswordEnv = pwFile, "GG_TEST_CLUSTER_B_PW"
	conf := clusterconf.Config{
		State: &clusterconf.State{Server: pa, Database: stateDB},
		Clusters: []clusterconf.Cluster{
			{Name: "alpha", Primary: pa, Replicas: []string{a.Env.Replica.Addr()}, Database: a.Name},
			{Name: "beta", Primary: pb, Replicas: []string{b.Env.Replica.Addr()}, Database: b.Name},
		},
	}
	require.NoError(t, conf.Validate())
	js, err := json.Marshal(conf)
	require.NoError(t, err)
	file := filepath.Join(dir, "clusters.json")
	require.NoError(t, os.WriteFile(file, js, 0o600))

	// An inline password is refused before anything is opened.
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(js), `"password_file"`, `"password"`, 1)), 0o600))
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	r := run(t, "", "serve", "--listen", "127.0.0.1:0", "--clusters", bad)
	require.Equal(t, ExitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "a password is written in the file: give it by reference")
	require.Contains(t, r.stderr, "(at .state.password)")

	url := serveCLI(t, nil, "", "--clusters", file, "--approval", "auto", "--checksum=false")
	api, err := client.New(url, "cli-test-token-0123456789", nil)
	require.NoError(t, err)
	ctx := context.Background()

	ids := map[string]string{}
	for _, cl := range []string{"alpha", "beta"} {
		r := run(t, "", "submit", "--server", url, "--cluster", cl, "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")
		require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
		ids[cl], _, _ = strings.Cut(r.stdout, "\t")
	}
	r = run(t, "", "submit", "--server", url, "--cluster", "gamma", "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")
	require.Equal(t, ExitError, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, `unknown cluster "gamma": this controller runs "alpha", "beta"`)

	for cl, id := range ids {
		require.Eventually(t, func() bool {
			v, err := api.Get(ctx, id)
			require.NoError(t, err)
			require.False(t, v.Status == migration.StatusFailed || v.Status == migration.StatusCancelled, "%s: %s", id, v.Error)
			return v.Status == migration.StatusComplete
		}, 2*time.Minute, 200*time.Millisecond, "migration on %s never completed", cl)
		v, err := api.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, cl, v.Cluster)
	}
	assert.True(t, strings.HasPrefix(a.ColumnType(t, "orders", "qty"), "bigint"), "migrated on alpha")
	assert.True(t, strings.HasPrefix(b.ColumnType(t, "orders", "qty"), "bigint"), "migrated on beta")

	r = run(t, "", "status", "--server", url, "--cluster", "beta", "-o", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var list []client.MigrationView
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	require.Len(t, list, 1)
	assert.Equal(t, ids["beta"], list[0].ID)

	m, err := api.Metrics(ctx)
	require.NoError(t, err)
	for _, cl := range []string{"alpha", "beta"} {
		assert.Contains(t, m, fmt.Sprintf(`cluster=%q`, cl), "the metrics carry the cluster label")
	}
}
