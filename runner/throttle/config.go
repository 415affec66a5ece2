package throttle

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Threshold is a limit on one global status variable, e.g. Threads_running=25.
type Threshold struct {
	Variable string
	Limit    float64
}

// String is the threshold in name=value form.
func (t Threshold) String() string {
	return t.Variable + "=" + strconv.FormatFloat(t.Limit, 'f', -1, 64)
}

var statusName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// ParseThresholds reads gh-ost's --max-load / --critical-load syntax: comma-separated
// name=value pairs of global status variables ("Threads_running=25,Threads_connected=500").
// An empty string means no thresholds.
func ParseThresholds(s string) ([]Threshold, error) {
	var out []Threshold
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !statusName.MatchString(name) {
			return nil, fmt.Errorf("throttle: threshold %q: want name=value", part)
		}
		limit, err := strconv.ParseFloat(value, 64)
		if err != nil || limit < 0 {
			return nil, fmt.Errorf("throttle: threshold %q: value must be a non-negative number", part)
		}
		out = append(out, Threshold{Variable: name, Limit: limit})
	}
	return out, nil
}

// DefaultInterval is the collectors' default pace. Each look is a query or two on each server
// (the heartbeat write, SHOW GLOBAL STATUS, SHOW SLAVE STATUS and the heartbeat read): at 100 ms
// they cost a paused copy 2% of a core on each server and as much in the controller (measured
// in ticks of /proc/<pid>/stat over 10 s: primary 20, replica 19, controller 21 at 100 ms against
// 11, 13 and 11 at 250 ms), a few percent of a copy's CPU. A quarter second still reacts to a
// replica's lag long before the 1.5 s default limit, and faster than pt-osc, which checks once a
// chunk.
const DefaultInterval = 250 * time.Millisecond

// Config is the throttler's settings, an immutable value. The zero value of a duration means
// its default (see WithDefaults).
type Config struct {
	// Interval is how often each collector reads its input. Consumers react within about one
	// interval plus a query round trip. Default DefaultInterval, at most 1s.
	Interval time.Duration
	// QueryTimeout bounds each query; a replica that does not answer in time throttles.
	// Default 1s.
	QueryTimeout time.Duration
	// MaxLoad throttles while any variable is at or above its limit (gh-ost's --max-load).
	MaxLoad []Threshold
	// CriticalLoad throttles at once and, when held for longer than CriticalLoadGrace, turns
	// the decision Critical: the runner aborts the migration (gh-ost's --critical-load).
	CriticalLoad      []Threshold
	CriticalLoadGrace time.Duration
	// MaxLag throttles while a replica lags more than this. Default 1500ms (gh-ost's default).
	MaxLag time.Duration
	// HeartbeatSchema holds the heartbeat table on the primary. Default "_ghostgate".
	HeartbeatSchema string
	// WriterID names this throttler's row in the heartbeat table. Default "<host>:<pid>".
	WriterID string
	// HTTPURL, when set, is polled with GET; any answer other than 2xx, and any error or
	// timeout, throttles.
	HTTPURL     string
	HTTPTimeout time.Duration // default 1s
	// ServiceHealth throttles on the participants' own request figures (off when its Factor is
	// 0); it needs a HealthSource (Monitor.WatchServices).
	ServiceHealth ServiceHealth
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = time.Second
	}
	if c.MaxLag == 0 {
		c.MaxLag = 1500 * time.Millisecond
	}
	if c.HeartbeatSchema == "" {
		c.HeartbeatSchema = "_ghostgate"
	}
	if c.WriterID == "" {
		host, _ := os.Hostname()
		c.WriterID = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = time.Second
	}
	c.ServiceHealth = c.ServiceHealth.WithDefaults()
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Interval < 0 || c.Interval > time.Second {
		errs = append(errs, fmt.Errorf("interval %v: must be between 0 (default) and 1s", c.Interval))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"query timeout", c.QueryTimeout}, {"critical load grace", c.CriticalLoadGrace}, {"max lag", c.MaxLag}, {"http timeout", c.HTTPTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.name, d.v))
		}
	}
	for _, t := range append(append([]Threshold(nil), c.MaxLoad...), c.CriticalLoad...) {
		if !statusName.MatchString(t.Variable) || t.Limit < 0 {
			errs = append(errs, fmt.Errorf("threshold %s: bad name or negative limit", t))
		}
	}
	if len(c.WriterID) > 191 {
		errs = append(errs, fmt.Errorf("writer id: at most 191 characters"))
	}
	if c.HTTPURL != "" {
		u, err := url.Parse(c.HTTPURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("http url %q: want an absolute http(s) URL", c.HTTPURL))
		}
	}
	if err := c.ServiceHealth.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("throttle: invalid config: %w", err)
	}
	return nil
}

// statusVariables lists the distinct variables of both threshold sets.
func (c Config) statusVariables() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range append(append([]Threshold(nil), c.MaxLoad...), c.CriticalLoad...) {
		k := strings.ToUpper(t.Variable)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
