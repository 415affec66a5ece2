package graybox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Defaults of a Config.
const (
	// DefaultHeartbeat is used when neither the Config nor the controller names an interval.
	DefaultHeartbeat = 5 * time.Second
	// DefaultRequestTimeout bounds each call to the controller.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultMaxHold bounds a prepare whose request names no hold (an older controller), and
	// caps the hold a controller asks for.
	DefaultMaxHold = 30 * time.Second
)

// Config configures a Participant. It is a value: New copies it, and nothing changes it after.
type Config struct {
	// ControllerURL is the base URL of `migrate serve`, e.g. "http://127.0.0.1:8470" (or of a
	// Service in front of the controllers of a fleet).
	ControllerURL string
	// ControllerURLs are further controllers of the same fleet (sharing one state database).
	// When the controller in use does not answer (no connection, a timeout, a 5xx), the
	// participant moves to the next one in turn and registers there again; any controller of
	// a fleet serves any participant.
	ControllerURLs []string
	// Secret is the shared secret both sides sign with (at least wire.MinSecretBytes).
	Secret []byte
	// Service names the service; InstanceID names this instance, unique and stable for its
	// lifetime (a host:port or a pod name).
	Service    string
	InstanceID string
	// Host is shown to the DBA; empty means os.Hostname().
	Host string
	// Tables are the "schema.table" names this instance reads or writes.
	Tables []string
	// Versions is the schema version each table runs on when the instance starts (e.g.
	// {"shop.orders": "v1"}); tables missing from it start on "".
	Versions map[string]string
	// Mode is wire.ModeHTTP (the controller POSTs to HookURL) or wire.ModeSignal (the
	// controller signals this process, which then fetches its pending phase).
	Mode wire.Mode
	// HookURL (ModeHTTP) is the absolute URL under which the controller reaches Participant.Hook,
	// conventionally ending in wire.HookPath.
	HookURL string
	// Signal (ModeSignal) is "SIGUSR2" (the default when empty) or "SIGUSR1".
	Signal string
	// Heartbeat is the lease renewal interval; 0 means the controller's suggestion, else a
	// third of the lease TTL, else DefaultHeartbeat.
	Heartbeat time.Duration
	// RequestTimeout bounds each call to the controller; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// HealthWindow is the span of the request figures the instance reports for each table
	// (Participant.Recorder): p99 latency, error rate, request count. 0 means
	// DefaultHealthWindow. The controller's service-health throttle compares them with the
	// figures from before a migration's copy began.
	HealthWindow time.Duration
	// MaxHold is the longest the instance stays prepared without hearing commit or abort,
	// whatever the controller asks; 0 means DefaultMaxHold.
	MaxHold time.Duration
	// HTTPClient calls the controller; nil means a private client (closed when Run returns, so
	// no idle connection outlives the participant).
	HTTPClient *http.Client
	// Observe, when set, receives what the participant does, for the service to log or count.
	// graybox logs nothing itself. It is called synchronously: keep it fast.
	Observe func(Event)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	u, err := url.Parse(c.ControllerURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return configErr("ControllerURL", fmt.Sprintf("%q is not an absolute http(s) URL", c.ControllerURL))
	case len(c.Secret) < wire.MinSecretBytes:
		return configErr("Secret", fmt.Sprintf("must be at least %d bytes", wire.MinSecretBytes))
	case c.Heartbeat < 0:
		return configErr("Heartbeat", "negative")
	case c.RequestTimeout < 0:
		return configErr("RequestTimeout", "negative")
	case c.MaxHold < 0:
		return configErr("MaxHold", "negative")
	case c.HealthWindow < 0 || (c.HealthWindow > 0 && c.HealthWindow < 100*time.Millisecond):
		return configErr("HealthWindow", fmt.Sprintf("%v: want 0 (default %v) or at least 100ms", c.HealthWindow, DefaultHealthWindow))
	}
	for i, s := range c.ControllerURLs {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return configErr(fmt.Sprintf("ControllerURLs[%d]", i), fmt.Sprintf("%q is not an absolute http(s) URL", s))
		}
	}
	for t := range c.Versions {
		if !contains(c.Tables, t) {
			return configErr("Versions", fmt.Sprintf("%q is not in Tables", t))
		}
	}
	// The registration carries the rest; its rules are the controller's.
	if err := c.registration(1).Validate(); err != nil {
		return fmt.Errorf("graybox: config: %w", err)
	}
	return nil
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("graybox: invalid config")

// ConfigError names the invalid field.
type ConfigError struct {
	Field, Reason string
}

func (e *ConfigError) Error() string { return "graybox: config: " + e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrConfig }

func configErr(field, reason string) error { return &ConfigError{Field: field, Reason: reason} }

func (c Config) registration(pid int) wire.Registration {
	r := wire.Registration{
		Service:    c.Service,
		InstanceID: c.InstanceID,
		Tables:     append([]string(nil), c.Tables...),
		Mode:       c.Mode,
		Host:       c.Host,
	}
	switch c.Mode {
	case wire.ModeHTTP:
		r.HookURL = c.HookURL
	case wire.ModeSignal:
		r.PID = pid
		r.Signal = c.Signal
		if r.Signal == "" {
			r.Signal = wire.DefaultSignal
		}
	}
	return r
}

func (c Config) maxHold() time.Duration {
	if c.MaxHold == 0 {
		return DefaultMaxHold
	}
	return c.MaxHold
}

func (c Config) requestTimeout() time.Duration {
	if c.RequestTimeout == 0 {
		return DefaultRequestTimeout
	}
	return c.RequestTimeout
}

// clone deep-copies the slices and maps so that the caller's later edits cannot reach us.
func (c Config) clone() Config {
	c.Secret = append([]byte(nil), c.Secret...)
	c.Tables = append([]string(nil), c.Tables...)
	v := make(map[string]string, len(c.Versions))
	for k, x := range c.Versions {
		v[k] = x
	}
	c.Versions = v
	c.ControllerURL = strings.TrimRight(c.ControllerURL, "/")
	urls := make([]string, len(c.ControllerURLs))
	for i, s := range c.ControllerURLs {
		urls[i] = strings.TrimRight(s, "/")
	}
	c.ControllerURLs = urls
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Handler is a phase callback. It runs with a context that ends at the request's deadline.
type Handler func(ctx context.Context, req wire.PhaseRequest) error

// Handlers are the service's callbacks. A nil callback succeeds without doing anything. A
// non-nil error from Prepare means "not ready" (the gate stays closed and its message is shown
// to the DBA); from Commit or Abort it is reported as ready=false with the message.
type Handlers struct {
	Prepare Handler
	Commit  Handler
	Abort   Handler
}

func (h Handlers) forPhase(p wire.Phase) Handler {
	switch p {
	case wire.PhasePrepare:
		return h.Prepare
	case wire.PhaseCommit:
		return h.Commit
	case wire.PhaseAbort:
		return h.Abort
	}
	return nil
}

// EventKind says what an Event reports.
type EventKind string

// The events a participant reports through Config.Observe.
const (
	EventRegistered   EventKind = "registered"
	EventHeartbeat    EventKind = "heartbeat"
	EventDeregistered EventKind = "deregistered"
	EventPhase        EventKind = "phase"     // a callback ran (Err: its error)
	EventDuplicate    EventKind = "duplicate" // a re-delivery answered from the cache
	EventAckSent      EventKind = "ack_sent"
	EventRefused      EventKind = "refused"  // a hook request refused (bad signature, replay, body)
	EventError        EventKind = "error"    // a call to the controller failed (it is retried)
	EventFailover     EventKind = "failover" // the controller did not answer: the next one of ControllerURLs is used
)

// Event is one thing a participant did, for the service's logs or metrics.
type Event struct {
	Time    time.Time
	Kind    EventKind
	Request *wire.PhaseRequest // the request concerned, if any
	Err     error
}
