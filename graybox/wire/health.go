package wire

import (
	"fmt"
	"strings"
	"time"
)

// PathHealth: POST a HealthReport → 200 RegistrationResponse; 404 when the controller does not
// know the instance. A participant pushes reports here only while the controller asks for them
// (RegistrationResponse.HealthMillis > 0): that is while a migration of one of its tables is
// running with the service-health throttle on. Otherwise its figures travel with the heartbeats.
const PathHealth = "/v1/participants/{id}/health"

// TableHealth is one instance's own figures for the requests it served on one table over the
// last Window: how many, how many failed, and their 99th percentile latency. A throttler holds a
// migration's copy when they rise above the service's figures from before the copy began
// (issue 12). Requests lets the controller distrust a p99 of three requests.
type TableHealth struct {
	Table        string `json:"table"`     // "schema.table"
	WindowMillis int64  `json:"window_ms"` // the span the figures cover
	Requests     int64  `json:"requests"`
	Errors       int64  `json:"errors"`
	// P99Micros is the 99th percentile latency in microseconds (0 without requests). It is the
	// upper bound of a histogram bucket: at most 25% above the true value, never below.
	P99Micros int64 `json:"p99_us"`
}

// Window is WindowMillis as a duration.
func (h TableHealth) Window() time.Duration { return time.Duration(h.WindowMillis) * time.Millisecond }

// P99 is P99Micros as a duration.
func (h TableHealth) P99() time.Duration { return time.Duration(h.P99Micros) * time.Microsecond }

// ErrorRate is Errors over Requests (0 without requests).
func (h TableHealth) ErrorRate() float64 {
	if h.Requests <= 0 {
		return 0
	}
	return float64(h.Errors) / float64(h.Requests)
}

// Validate checks the figures a controller relies on.
func (h TableHealth) Validate() error {
	const m = "TableHealth"
	if s, t, ok := strings.Cut(h.Table, "."); !ok || s == "" || t == "" {
		return invalid(m, "table", fmt.Sprintf("%q is not schema.table", h.Table))
	}
	switch {
	case h.WindowMillis <= 0:
		return invalid(m, "window_ms", "must be positive")
	case h.Requests < 0, h.Errors < 0, h.P99Micros < 0:
		return invalid(m, "requests", "requests, errors and p99_us must not be negative")
	case h.Errors > h.Requests:
		return invalid(m, "errors", "more errors than requests")
	}
	return nil
}

// MaxHealthTables bounds the tables of one report (a registration names a handful).
const MaxHealthTables = 64

// HealthReport is what a participant pushes to PathHealth: its figures per table, as in
// Heartbeat.Health.
type HealthReport struct {
	InstanceID string        `json:"instance_id"`
	Tables     []TableHealth `json:"tables"`
}

// ValidateHealth checks the figures of a report or a heartbeat.
func ValidateHealth(tables []TableHealth) error {
	if len(tables) > MaxHealthTables {
		return invalid("HealthReport", "tables", fmt.Sprintf("%d tables, at most %d", len(tables), MaxHealthTables))
	}
	for _, t := range tables {
		if err := t.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// HealthInterval is HealthMillis as a duration (0: the controller wants no pushed reports).
func (r RegistrationResponse) HealthInterval() time.Duration {
	return time.Duration(r.HealthMillis) * time.Millisecond
}
