package throttle

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0.Add(10 * time.Second)
	cfg := Config{
		MaxLoad:           []Threshold{{"Threads_running", 25}},
		CriticalLoad:      []Threshold{{"Threads_running", 100}},
		CriticalLoadGrace: 5 * time.Second,
		MaxLag:            1500 * time.Millisecond,
	}
	load := func(v float64, since time.Time) loadReading {
		return loadReading{at: now, values: map[string]float64{"THREADS_RUNNING": v}, criticalSince: since}
	}
	fresh := func(name string, behind int64) replicaReading {
		return replicaReading{name: name, at: now, replicating: true, behind: behind}
	}
	ok := func(name string, lag time.Duration) replicaReading {
		return replicaReading{name: name, at: now, replicating: true, heartbeat: true, lag: lag}
	}
	tests := []struct {
		name     string
		cfg      Config
		in       inputs
		throttle bool
		critical bool
		source   Source
		subject  string
		value    float64
		reason   string // substring
	}{
		{name: "nothing configured", cfg: Config{MaxLag: time.Second}, in: inputs{}},
		{name: "all clear", cfg: cfg, in: inputs{load: load(3, time.Time{}), replicas: []replicaReading{ok("r1", 100*time.Millisecond)}}},
		{name: "load not read yet", cfg: cfg, in: inputs{}, throttle: true, source: SourceMaxLoad, reason: "not read yet"},
		{name: "load read failed", cfg: cfg, in: inputs{load: loadReading{at: now, err: errors.New("boom")}}, throttle: true, source: SourceMaxLoad, reason: "boom"},
		{name: "max load reached (>=)", cfg: cfg, in: inputs{load: load(25, time.Time{})}, throttle: true, source: SourceMaxLoad, subject: "Threads_running", value: 25, reason: "Threads_running=25 >= 25"},
		{name: "under max load", cfg: cfg, in: inputs{load: load(24, time.Time{})}},
		{name: "critical within grace", cfg: cfg, in: inputs{load: load(150, now.Add(-2*time.Second))}, throttle: true, source: SourceCriticalLoad, value: 150, subject: "Threads_running", reason: "aborts after 5s"},
		{name: "critical past grace", cfg: cfg, in: inputs{load: load(150, now.Add(-5*time.Second))}, throttle: true, critical: true, source: SourceCriticalLoad, value: 150, subject: "Threads_running", reason: "abort"},
		{name: "critical outranks manual", cfg: cfg, in: inputs{load: load(150, now.Add(-6*time.Second)), paused: true}, throttle: true, critical: true, source: SourceCriticalLoad, value: 150, subject: "Threads_running", reason: "abort"},
		{name: "manual pause", cfg: cfg, in: inputs{load: load(1, time.Time{}), paused: true, pauseMsg: "lunch"}, throttle: true, source: SourceManual, reason: "paused by operator: lunch"},
		{name: "replica not checked yet", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{{name: "r1"}}}, throttle: true, source: SourceReplicaStopped, subject: "r1", reason: "not checked yet"},
		{name: "replica unreachable", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{ok("r1", 0), {name: "r2", at: now, err: errors.New("connection refused")}}}, throttle: true, source: SourceReplicaStopped, subject: "r2", reason: "replica r2 unreachable: connection refused"},
		{name: "replica stopped never counts as lag 0", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{{name: "r1", at: now, heartbeat: true, lag: 0, status: "IO=Yes SQL=No"}}}, throttle: true, source: SourceReplicaStopped, subject: "r1", reason: "replica r1 not replicating (IO=Yes SQL=No)"},
		{name: "no heartbeat yet, writer not running", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{fresh("r1", -1)}}, throttle: true, source: SourceReplicaLag, subject: "r1", reason: "no heartbeat written yet"},
		{name: "no heartbeat yet, writer just started", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{fresh("r1", 0)}, beat: beatState{started: now.Add(-200 * time.Millisecond)}}},
		{name: "no heartbeat yet, first written just now", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{fresh("r1", 0)}, beat: beatState{started: now.Add(-time.Second), first: now.Add(-time.Second)}}},
		{name: "no heartbeat yet, none written for longer than max lag", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{fresh("r1", -1)}, beat: beatState{started: now.Add(-2 * time.Second)}}, throttle: true, source: SourceReplicaLag, subject: "r1", reason: "no heartbeat written yet"},
		{name: "no heartbeat in longer than max lag", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{fresh("r1", 0)}, beat: beatState{started: now.Add(-3 * time.Second), first: now.Add(-2 * time.Second)}}, throttle: true, source: SourceReplicaLag, subject: "r1", value: 2000, reason: "no heartbeat received in 2000ms > 1500ms"},
		{name: "no heartbeat yet but Seconds_Behind_Master over max lag", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{fresh("r1", 30)}, beat: beatState{started: now, first: now}}, throttle: true, source: SourceReplicaLag, subject: "r1", value: 30000, reason: "Seconds_Behind_Master=30"},
		{name: "Seconds_Behind_Master ignored once the heartbeat arrived", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{{name: "r1", at: now, replicating: true, heartbeat: true, behind: 30}}}},
		{name: "lag at limit is fine", cfg: cfg, in: inputs{load: load(1, time.Time{}), replicas: []replicaReading{ok("r1", 1500*time.Millisecond)}}},
		{name: "worst lagging replica", cfg: cfg, in: inputs{load: load(30, time.Time{}), replicas: []replicaReading{ok("r1", 2*time.Second), ok("r2", 3*time.Second), ok("r3", 0)}}, throttle: true, source: SourceReplicaLag, subject: "r2", value: 3000, reason: "replica r2 lag 3000ms > 1500ms"},
		{name: "http not run yet", cfg: Config{HTTPURL: "http://x/"}, in: inputs{}, throttle: true, source: SourceHTTP, subject: "http://x/", reason: "not run yet"},
		{name: "http 503", cfg: Config{HTTPURL: "http://x/"}, in: inputs{http: httpReading{at: now, status: 503}}, throttle: true, source: SourceHTTP, subject: "http://x/", value: 503, reason: "returned 503"},
		{name: "http 204 clear", cfg: Config{HTTPURL: "http://x/"}, in: inputs{http: httpReading{at: now, status: 204}}},
		{name: "http timeout", cfg: Config{HTTPURL: "http://x/"}, in: inputs{http: httpReading{at: now, err: errors.New("deadline exceeded")}}, throttle: true, source: SourceHTTP, subject: "http://x/", reason: "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(tt.cfg, tt.in, now)
			assert.Equal(t, tt.throttle, d.Throttle, d.Reason)
			assert.Equal(t, tt.critical, d.Critical, d.Reason)
			assert.Equal(t, tt.source, d.Source)
			assert.Equal(t, tt.subject, d.Subject)
			assert.Equal(t, tt.value, d.Value)
			assert.True(t, strings.Contains(d.Reason, tt.reason), "reason %q lacks %q", d.Reason, tt.reason)
			if !tt.throttle {
				assert.Equal(t, Decision{}, d)
			}
		})
	}
}

func TestTrackCritical(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(time.Second)
	tests := []struct {
		name     string
		since    time.Time
		critical bool
		want     time.Time
	}{
		{"starts an episode", time.Time{}, true, t1},
		{"keeps the episode start", t0, true, t0},
		{"ends the episode", t0, false, time.Time{}},
		{"stays calm", time.Time{}, false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, trackCritical(tt.since, tt.critical, t1))
		})
	}
}

func TestParseThresholds(t *testing.T) {
	tests := []struct {
		in      string
		want    []Threshold
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "Threads_running=25", want: []Threshold{{"Threads_running", 25}}},
		{in: " Threads_running = 25 , Threads_connected=500 ", want: []Threshold{{"Threads_running", 25}, {"Threads_connected", 500}}},
		{in: "Threads_running", wantErr: true},
		{in: "Threads_running=x", wantErr: true},
		{in: "Threads_running=-1", wantErr: true},
		{in: "a;drop=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseThresholds(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{}},
		{name: "interval too long", cfg: Config{Interval: 2 * time.Second}, wantErr: "interval"},
		{name: "negative lag", cfg: Config{MaxLag: -time.Second}, wantErr: "max lag"},
		{name: "bad threshold", cfg: Config{MaxLoad: []Threshold{{"x y", 1}}}, wantErr: "threshold"},
		{name: "bad url", cfg: Config{HTTPURL: "ftp://x"}, wantErr: "http url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestDecisionSameState(t *testing.T) {
	a := Decision{Throttle: true, Source: SourceReplicaLag, Subject: "r1", Value: 1900}
	assert.True(t, a.SameState(Decision{Throttle: true, Source: SourceReplicaLag, Subject: "r1", Value: 2100}))
	assert.False(t, a.SameState(Decision{Throttle: true, Source: SourceReplicaLag, Subject: "r2"}))
	assert.False(t, a.SameState(Decision{}))
}
