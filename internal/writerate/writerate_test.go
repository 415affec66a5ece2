package writerate

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/planner"
)

func config(d *sandboxtest.DB) Config {
	p := d.Env.Primary
	return Config{Host: p.Host, Port: p.Port, User: p.User, Password: p.Password}
}

// writer updates one row of t at rate statements a second (open loop: a tick it missed is
// skipped, so it never bursts) until the returned stop is called, which returns the statements
// committed and the time they took.
func writer(t *testing.T, d *sandboxtest.DB, rate int) (stop func() (int64, time.Duration)) {
	t.Helper()
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := d.Primary.ExecContext(ctx, "UPDATE t SET a = a + 1 WHERE id = ?", 1+i%100); err == nil {
					n.Add(1)
				}
			}
		}
	}()
	return func() (int64, time.Duration) {
		cancel()
		wg.Wait()
		return n.Load(), time.Since(start)
	}
}

func table(t *testing.T) *sandboxtest.DB { return tableOn(t, sandboxtest.New(t)) }

func tableOn(t *testing.T, d *sandboxtest.DB) *sandboxtest.DB {
	d.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_100",
		"CREATE TABLE other (id INT NOT NULL PRIMARY KEY)")
	return d
}

// Nothing written: the sample ends after the quiet time, not the window, and the rate is 0. On a
// pair of its own: on the shared one, the other packages' tests write to other tables.
func TestQuietServer(t *testing.T) {
	d := tableOn(t, sandboxtest.NewOn(t, sandboxtest.Isolated(t, "writerate-quiet")))
	d.WaitReplica(t) // the table's own writes are behind it
	s, err := NewSampler(d.Primary, config(d))
	require.NoError(t, err)
	res, err := s.Wait(context.Background())
	require.NoError(t, err)
	assert.True(t, res.Quiet, "no row event: ended early")
	assert.Less(t, res.Elapsed, DefaultWindow, "a quiet plan does not wait the whole window")
	assert.Zero(t, res.Rate(d.Name, "t"))
}

// A writer at a known rate is measured at about that rate (against what it really wrote, which
// a busy box can make less than asked), and only on its own table.
func TestKnownRate(t *testing.T) {
	d := table(t)
	stop := writer(t, d, 200)
	time.Sleep(300 * time.Millisecond) // the writer is in its stride
	s, err := NewSampler(d.Primary, config(d))
	require.NoError(t, err)
	res, err := s.Wait(context.Background())
	n, took := stop()
	require.NoError(t, err)
	achieved := float64(n) / took.Seconds()
	got := res.Rate(d.Name, "t")
	t.Logf("writer: %.0f statements/s achieved (200 asked); sampled %.0f rows/s over %v", achieved, got, res.Elapsed)
	assert.False(t, res.Quiet)
	assert.InDelta(t, res.Elapsed.Seconds(), DefaultWindow.Seconds(), 0.3, "the whole window")
	assert.InEpsilon(t, achieved, got, 0.35, "the sampled rate is the writer's")
	assert.Zero(t, res.Rate(d.Name, "other"))
}

// A multi-row UPDATE is as many row events as rows (what gh-ost's apply loop will apply), and an
// UPDATE that changes nothing is none.
func TestRowsNotStatements(t *testing.T) {
	d := table(t)
	s, err := NewSampler(d.Primary, Config{Host: config(d).Host, Port: config(d).Port, User: config(d).User, Password: config(d).Password, Quiet: time.Second, Window: 1500 * time.Millisecond})
	require.NoError(t, err)
	s.Start(context.Background())
	time.Sleep(200 * time.Millisecond) // the tail is connected
	d.Exec(t, "UPDATE t SET a = a + 1", "UPDATE t SET a = a WHERE id = 1", "INSERT INTO other VALUES (1), (2)")
	res, err := s.Wait(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 100, res.Rows[key(d.Name, "t")])
	assert.EqualValues(t, 2, res.Rows[key(d.Name, "other")])
}

// The plan: a writer above the apply capacity gives the warning (the copy would starve), no
// writer gives a rate of 0 and no warning.
func TestPlanForecast(t *testing.T) {
	d := table(t)
	plan := func(capacity float64) *planner.Plan {
		o := planner.Options{Schema: d.Name, ApplyCapacity: &planner.ApplyCapacity{EventsPerSecond: capacity, Source: "the test's"}}
		defer PlanOptions(context.Background(), d.Primary, config(d), "_ghostgate_none", &o)()
		require.NotNil(t, o.WriteRates)
		p, err := planner.New(d.Primary, o)
		require.NoError(t, err)
		plans, err := p.Plan(context.Background(), "ALTER TABLE t MODIFY a BIGINT NOT NULL")
		require.NoError(t, err)
		require.Len(t, plans, 1)
		require.Equal(t, planner.StrategyGhost, plans[0].Strategy)
		require.NotNil(t, plans[0].Forecast)
		return plans[0]
	}
	finding := func(p *planner.Plan) planner.Finding {
		for _, f := range p.Findings {
			if f.Code == planner.CodeWriteRate {
				return f
			}
		}
		t.Fatalf("no %s finding in %+v", planner.CodeWriteRate, p.Findings)
		return planner.Finding{}
	}

	quiet := plan(1000)
	assert.Zero(t, quiet.Forecast.WriteRowsPerSecond)
	assert.False(t, quiet.Forecast.Starves)
	for _, f := range quiet.Findings {
		assert.NotEqual(t, planner.CodeWriteRate, f.Code, "no writer, no finding: %s", f.Message)
	}

	stop := writer(t, d, 200)
	time.Sleep(300 * time.Millisecond)
	busy := plan(100) // a capacity below the writer's rate
	stop()
	f := finding(busy)
	t.Logf("%s: %s", f.Severity, f.Message)
	assert.Equal(t, planner.SeverityWarning, f.Severity)
	assert.True(t, busy.Forecast.Starves, "%+v", busy.Forecast)
	assert.Contains(t, f.Message, "never finish")
	assert.False(t, busy.Blocked, "a warning, not a block: the DBA decides")
}

func TestValidate(t *testing.T) {
	ok := Config{Host: "h", Port: 3306, User: "u"}
	require.NoError(t, ok.Validate())
	require.NoError(t, Config{Off: true}.Validate())
	for _, c := range []Config{{Port: 3306, User: "u"}, {Host: "h", Port: 3306, User: "u", Window: -time.Second},
		{Host: "h", Port: 3306, User: "u", Window: 2 * time.Minute}, {Host: "h", Port: 3306, User: "u", Flavor: "oracle"}} {
		assert.ErrorIs(t, c.Validate(), ErrInvalidConfig, "%+v", c)
	}
}
