package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/shopproc"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/store"
)

// Issue 10: no healthy instance sheds writes longer than the prepare hold plus one heartbeat,
// whatever else fails. The gate's default hold is 6s; the instances heartbeat every 500ms.
const shedBound = 6*time.Second + 500*time.Millisecond

// prober writes to one instance every 20ms (a DELETE of a row that does not exist: a write to
// ShedWrites, no change to the data) and keeps the longest run of 429 answers.
type prober struct {
	url  string
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	runFrom time.Time // start of the current 429 run (zero: none)
	longest time.Duration
	runs    int
}

func probe(t *testing.T, url string) *prober {
	p := &prober{url: url, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	t.Cleanup(p.end)
	return p
}

func (p *prober) loop() {
	defer close(p.done)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-p.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		req, _ := http.NewRequest(http.MethodDelete, p.url+"/orders/999999999", nil)
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		p.note(resp.StatusCode == http.StatusTooManyRequests, time.Now())
	}
}

func (p *prober) note(shed bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case shed && p.runFrom.IsZero():
		p.runFrom = now
		p.runs++
	case !shed && !p.runFrom.IsZero():
		p.longest = max(p.longest, now.Sub(p.runFrom))
		p.runFrom = time.Time{}
	}
}

// shedding reports whether the instance sheds now.
func (p *prober) shedding() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.runFrom.IsZero()
}

// result is the longest 429 run (a run still going counts up to now) and the number of runs.
func (p *prober) result() (time.Duration, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.longest
	if !p.runFrom.IsZero() {
		l = max(l, time.Since(p.runFrom))
	}
	return l, p.runs
}

func (p *prober) end() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

func shedSetup(t *testing.T) *sandboxtest.DB {
	d := sandboxtest.New(t)
	d.Exec(t, shop.Schema, `INSERT INTO orders (id, customer_id, status, amount, updated_at)
		SELECT seq, seq % 50, 'new', seq / 100, NOW(6) FROM seq_1_to_5000`)
	d.WaitReplica(t)
	return d
}

func startShop(t *testing.T, bin string, d *sandboxtest.DB, url, id string, mode wire.Mode, extra ...string) *shopproc.Proc {
	t.Helper()
	p, err := shopproc.Start(context.Background(), bin, shopproc.Args{DSN: d.Env.Primary.DSN(d.Name), ControllerURL: url,
		Secret: secret, Mode: mode, InstanceID: id, ShedWrites: true, Heartbeat: 500 * time.Millisecond, Extra: extra})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	return p
}

func waitLive(t *testing.T, api *client.Client, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		ps, err := api.Participants(context.Background())
		live := 0
		for _, p := range ps {
			if p.Live {
				live++
			}
		}
		return err == nil && live == n
	}, 30*time.Second, 100*time.Millisecond, "%d live instances", n)
}

// One of two instances dies (kill -9) at the gate: the healthy one's 429 runs stay under the
// bound while the dead one's lease lapses, the gate evicts it (recording who and why) and the
// migration completes.
func TestSheddingBoundedWhenAnInstanceDies(t *testing.T) {
	ctx := context.Background()
	d := shedSetup(t)
	api, st, url := controller(t, d)
	bin, err := shopproc.Build(ctx, t.TempDir())
	require.NoError(t, err)
	healthy := startShop(t, bin, d, url, "healthy", wire.ModeHTTP)
	doomed := startShop(t, bin, d, url, "doomed", wire.ModeHTTP)
	waitLive(t, api, 2)
	require.NoError(t, doomed.Kill())
	pr := probe(t, healthy.URL())

	views, err := api.Create(ctx, client.CreateRequest{DDL: shop.Migration, Schema: d.Name,
		OldVersion: shop.OldVersion, NewVersion: shop.NewVersion, Approval: "auto"})
	require.NoError(t, err)
	v := waitTerminal(t, api, views[0].ID, 3*time.Minute)
	require.Equal(t, migration.StatusComplete, v.Status, v.Error)
	longest, runs := pr.result()
	t.Logf("healthy instance: %d 429 run(s), longest %s (bound %s)", runs, longest, shedBound)
	require.Positive(t, runs, "the healthy instance was prepared at least once")
	require.Less(t, longest, shedBound)

	events, err := st.Events(ctx, views[0].ID, 0, 1000)
	require.NoError(t, err)
	evicted, aborted := false, 0
	for _, e := range events {
		switch e.Kind {
		case store.EventKind(cutover.EventEvicted):
			evicted = evicted || strings.Contains(string(e.Data), `"instance_id":"doomed"`) && strings.Contains(e.Message, "by policy")
		case store.EventKind(cutover.EventRound):
			aborted++
		}
	}
	require.True(t, evicted, "the dead instance's eviction is recorded:\n%s", dump(events))
	require.Positive(t, aborted, "rounds were aborted while the dead instance was still leased")
}

// An instance the controller cannot reach (it still heartbeats): rounds are aborted one after
// the other and the healthy instance never sheds longer than the bound.
func TestSheddingBoundedWhenAnInstanceIsUnreachable(t *testing.T) {
	ctx := context.Background()
	d := shedSetup(t)
	api, _, url := controller(t, d)
	bin, err := shopproc.Build(ctx, t.TempDir())
	require.NoError(t, err)
	healthy := startShop(t, bin, d, url, "healthy", wire.ModeSignal)
	startShop(t, bin, d, url, "deaf", wire.ModeHTTP, "--advertise-url", "http://127.0.0.1:1")
	waitLive(t, api, 2)
	pr := probe(t, healthy.URL())

	views, err := api.Create(ctx, client.CreateRequest{DDL: shop.Migration, Schema: d.Name,
		OldVersion: shop.OldVersion, NewVersion: shop.NewVersion, Approval: "auto"})
	require.NoError(t, err)
	id := views[0].ID
	require.Eventually(t, func() bool { _, runs := pr.result(); return runs >= 3 }, 2*time.Minute, 100*time.Millisecond,
		"three prepare rounds reach the healthy instance")
	v, err := api.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, migration.StatusReady, v.Status, "the unreachable instance keeps the gate closed")
	_, err = api.Cancel(ctx, id)
	require.NoError(t, err)
	waitTerminal(t, api, id, time.Minute)
	time.Sleep(300 * time.Millisecond)
	longest, runs := pr.result()
	t.Logf("healthy instance: %d 429 run(s), longest %s (bound %s)", runs, longest, shedBound)
	require.Less(t, longest, shedBound)
	require.False(t, pr.shedding(), "not shedding after the cancel")
}

// The controller (a real `migrate serve`) is killed with SIGKILL while the healthy instance is
// prepared. Restarted at once, the controller aborts the prepare of the migration that is no
// longer at its gate; restarted late, the instance has stopped shedding by itself (its hold)
// within the bound. Either way it keeps not shedding after the restart.
func TestSheddingBoundedWhenTheControllerIsKilled(t *testing.T) {
	for _, restartAtOnce := range []bool{true, false} {
		t.Run(fmt.Sprintf("restart at once %v", restartAtOnce), func(t *testing.T) { controllerKilled(t, restartAtOnce) })
	}
}

func controllerKilled(t *testing.T, restartAtOnce bool) {
	ctx := context.Background()
	d := shedSetup(t)
	dir := t.TempDir()
	bin, err := shopproc.Build(ctx, dir)
	require.NoError(t, err)
	migrate := filepath.Join(dir, "migrate")
	out, err := exec.Command("go", "build", "-o", migrate, "github.com/ghostgate/ghostgate/cmd/migrate").CombinedOutput()
	require.NoError(t, err, string(out))
	work, err := os.MkdirTemp("", "ggw") // short: gh-ost's socket path lives under it
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	port, err := shopproc.FreePort()
	require.NoError(t, err)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	serve := func() *exec.Cmd {
		cmd := exec.Command(migrate, "serve", "-H", d.Env.Primary.Host, "-P", strconv.Itoa(d.Env.Primary.Port),
			"-u", d.Env.Primary.User, "-d", d.Name, "--replica", d.Env.Replica.Addr(), "--listen", "127.0.0.1:"+strconv.Itoa(port),
			"--approval", "auto", "--work-dir", work)
		cmd.Env = append(os.Environ(), "GHOSTGATE_PASSWORD="+d.Env.Primary.Password, "GHOSTGATE_TOKEN="+token,
			"GHOSTGATE_PARTICIPANT_SECRET="+string(secret))
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("serve-%d.log", time.Now().UnixNano())))
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = log, log
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = log.Close()
		})
		return cmd
	}
	ctl := serve()
	api, err := client.New(url, token, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := api.Participants(ctx); return err == nil }, time.Minute, 100*time.Millisecond)
	healthy := startShop(t, bin, d, url, "healthy", wire.ModeHTTP)
	startShop(t, bin, d, url, "deaf", wire.ModeHTTP, "--advertise-url", "http://127.0.0.1:1")
	waitLive(t, api, 2)
	pr := probe(t, healthy.URL())

	views, err := api.Create(ctx, client.CreateRequest{DDL: shop.Migration, Schema: d.Name,
		OldVersion: shop.OldVersion, NewVersion: shop.NewVersion, Approval: "auto"})
	require.NoError(t, err)
	if !waitFor(2*time.Minute, pr.shedding) {
		v, _ := api.Get(ctx, views[0].ID)
		cl, _ := api.Checklist(ctx, views[0].ID)
		logs, _ := filepath.Glob(filepath.Join(dir, "serve-*.log"))
		b, _ := os.ReadFile(logs[0])
		t.Fatalf("the healthy instance was never prepared: %s %s\n%+v\n%s", v.Status, v.Error, cl, b)
	}
	require.NoError(t, ctl.Process.Kill()) // SIGKILL: no abort goes out
	killed := time.Now()
	_ = ctl.Wait()
	if restartAtOnce {
		serve() // it must abort the prepare of a migration no longer at its gate
	}
	require.Eventually(t, func() bool { return !pr.shedding() }, shedBound, 10*time.Millisecond,
		"the instance stops shedding")
	t.Logf("stopped shedding %s after the controller was killed", time.Since(killed))
	if !restartAtOnce {
		serve()
	}
	require.Eventually(t, func() bool {
		ps, err := api.Participants(ctx)
		for _, s := range ps {
			if s.InstanceID == "healthy" {
				return err == nil && s.MigrationID == views[0].ID && s.Phase == wire.PhaseAbort && s.Acked
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "the restarted controller sent abort for the interrupted migration")
	time.Sleep(2 * time.Second)
	longest, runs := pr.result()
	t.Logf("healthy instance: %d 429 run(s), longest %s (bound %s)", runs, longest, shedBound)
	require.Less(t, longest, shedBound)
	require.False(t, pr.shedding(), "not shedding after the controller's restart")
}

func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func waitTerminal(t *testing.T, api *client.Client, id string, within time.Duration) client.MigrationView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, err := api.Get(context.Background(), id)
		require.NoError(t, err)
		if v.Status.Terminal() {
			return v
		}
		require.True(t, time.Now().Before(deadline), "migration %s still %s after %s", id, v.Status, within)
		time.Sleep(200 * time.Millisecond)
	}
}
