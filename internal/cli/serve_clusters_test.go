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

	r = run(t, "", "status", "--server", url, "--cluster", "beta")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Regexp(t, ids["beta"]+`\s+beta:`+b.Name+`\.orders\s+ghost`, r.stdout, "the list names the cluster")
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

// TestServeClustersFleet: two controllers with the same clusters file (two clusters, at most
// one migration at once on each) on one state database; six migrations over the two clusters,
// submitted through both controllers, all complete, never more than one at once per cluster.
func TestServeClustersFleet(t *testing.T) {
	a := ordersOn(t, sandboxtest.Env(t))
	b := ordersOn(t, sandboxtest.Isolated(t, "cli-clusters"))
	for _, d := range []*sandboxtest.DB{a, b} {
		for _, tbl := range []string{"t1", "t2", "t3"} {
			d.Exec(t, "CREATE TABLE "+tbl+" (id INT PRIMARY KEY AUTO_INCREMENT, k INT NOT NULL)",
				"INSERT INTO "+tbl+" (k) SELECT seq FROM seq_1_to_1000")
		}
		d.WaitReplica(t)
	}
	t.Setenv("GG_TEST_FLEET_A_PW", a.Env.Primary.Password)
	t.Setenv("GG_TEST_FLEET_B_PW", b.Env.Primary.Password)
	stateDB := "_ggf_" + a.Name
	if len(stateDB) > 64 {
		stateDB = stateDB[:64]
	}
	t.Cleanup(func() { _, _ = a.Primary.Exec("DROP DATABASE IF EXISTS `" + stateDB + "`") })
	srv := func(e sandbox.Server, env string) clusterconf.Server {
		return clusterconf.Server{Host: e.Host, Port: e.Port, User: e.User, PasswordEnv: env}
	}
	pa, pb := srv(a.Env.Primary, "GG_TEST_FLEET_A_PW"), srv(b.Env.Primary, "GG_TEST_FLEET_B_PW")
	conf := clusterconf.Config{State: &clusterconf.State{Server: pa, Database: stateDB}, Clusters: []clusterconf.Cluster{
		{Name: "alpha", Primary: pa, Replicas: []string{a.Env.Replica.Addr()}, Database: a.Name, MaxConcurrent: 1},
		{Name: "beta", Primary: pb, Replicas: []string{b.Env.Replica.Addr()}, Database: b.Name, MaxConcurrent: 1},
	}}
	js, err := json.Marshal(conf)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "clusters.json")
	require.NoError(t, os.WriteFile(file, js, 0o600))
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	var urls []string
	for _, name := range []string{"ctl-x", "ctl-y"} {
		urls = append(urls, serveCLI(t, nil, "", "--clusters", file, "--approval", "auto", "--checksum=false", "--controller-id", name))
	}

	// What runs, per cluster, as the state database says, until every migration has ended.
	stop, sampled := make(chan struct{}), make(chan int)
	go func() {
		most := 0
		defer func() { sampled <- most }()
		for {
			var n int
			_ = a.Primary.QueryRow("SELECT COALESCE(MAX(c), 0) FROM (SELECT COUNT(*) c FROM `" + stateDB +
				"`.migrations WHERE active = 1 GROUP BY cluster) x").Scan(&n)
			most = max(most, n)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var ids []string
	i := 0
	for _, cl := range []string{"alpha", "beta"} {
		for _, tbl := range []string{"t1", "t2", "t3"} {
			r := run(t, "", "submit", "--server", urls[i%2], "--cluster", cl, "ALTER TABLE "+tbl+" MODIFY k BIGINT NOT NULL")
			require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
			id, _, _ := strings.Cut(r.stdout, "\t")
			ids = append(ids, id)
			i++
		}
	}
	api, err := client.New(urls[0], "cli-test-token-0123456789", nil)
	require.NoError(t, err)
	owners := map[string]bool{}
	for _, id := range ids {
		require.Eventually(t, func() bool {
			v, err := api.Get(context.Background(), id)
			require.NoError(t, err)
			require.False(t, v.Status == migration.StatusFailed || v.Status == migration.StatusCancelled, "%s: %s", id, v.Error)
			if v.Status == migration.StatusComplete {
				owners[strings.SplitN(v.Lease.Owner, ":", 2)[0]] = true
			}
			return v.Status == migration.StatusComplete
		}, 3*time.Minute, 200*time.Millisecond, "migration %s never completed", id)
	}
	close(stop)
	assert.Equal(t, 1, <-sampled, "at most one at once per cluster, and the queue was used")
	t.Logf("run by %v", owners)
	for _, d := range []*sandboxtest.DB{a, b} {
		for _, tbl := range []string{"t1", "t2", "t3"} {
			assert.True(t, strings.HasPrefix(d.ColumnType(t, tbl, "k"), "bigint"), "%s.%s", d.Name, tbl)
		}
	}
}
