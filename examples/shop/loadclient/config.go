// Package loadclient drives shopsvc over HTTP the way the end-to-end test and `make demo` need:
// N workers doing a mix of create, read, update and delete at a fixed total rate against one or
// more instances (round robin), while keeping a model of the rows they expect. It counts every
// request, failures by kind (5xx, connection errors, unexpected answers, reads that contradict
// the model) with deliberate 429s (writes shed during a cut-over) counted apart, and latency.
// After Stop, Verify compares the table in the database with the model row by row: missing,
// extra, wrong.
//
// Each worker owns the ids it created, so no two workers touch the same row and the model is
// exact. A write whose outcome is unknown (a connection error or a 5xx: the server may or may not
// have committed) leaves the row with two acceptable states, and the worker stops touching it.
// Ids are chosen by the client (Config.IDBase upwards); Verify checks exactly that range, so the
// table may hold other rows (a seed) below it. Do not create orders with table-chosen ids while a
// client runs: AUTO_INCREMENT would move into the client's range.
package loadclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Op is a kind of request.
type Op string

// The operations.
const (
	OpCreate Op = "create"
	OpRead   Op = "read"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Ops lists the operations in a stable order.
var Ops = []Op{OpCreate, OpRead, OpUpdate, OpDelete}

// Mix weighs the operations; the zero value means DefaultMix. A worker with no row of its own
// creates one whatever the mix.
type Mix struct {
	Create, Read, Update, Delete int
}

// DefaultMix reads a little more than it writes and grows the table slowly.
var DefaultMix = Mix{Create: 25, Read: 40, Update: 25, Delete: 10}

func (m Mix) total() int { return m.Create + m.Read + m.Update + m.Delete }

// Defaults of a Config.
const (
	DefaultWorkers = 4
	DefaultIDBase  = 1_000_000
	DefaultTimeout = 10 * time.Second
)

// Config configures a load client. It is a value; New copies it.
type Config struct {
	// Targets are the base URLs of the instances, e.g. "http://127.0.0.1:8081"; requests go to
	// them in turn.
	Targets []string
	// Workers is the number of concurrent workers (DefaultWorkers when 0).
	Workers int
	// Rate is the total number of requests per second over all workers.
	Rate float64
	// Mix weighs the operations (DefaultMix when zero).
	Mix Mix
	// IDBase is the first order id the client creates (DefaultIDBase when 0).
	IDBase int64
	// Timeout bounds each request (DefaultTimeout when 0). It must exceed the longest stall the
	// service may see (a cut-over's lock), or a slow success is counted as a connection error.
	Timeout time.Duration
	// Seed seeds the workers' random choices (0: from the clock).
	Seed int64
	// HTTPClient sends the requests; nil means a private client with Timeout.
	HTTPClient *http.Client
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("loadclient: invalid config")

// Validate checks the configuration.
func (c Config) Validate() error {
	if len(c.Targets) == 0 {
		return fmt.Errorf("%w: no targets", ErrConfig)
	}
	for _, t := range c.Targets {
		if u, err := url.Parse(t); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: target %q is not an absolute http(s) URL", ErrConfig, t)
		}
	}
	m := c.Mix
	switch {
	case c.Workers < 0:
		return fmt.Errorf("%w: negative workers", ErrConfig)
	case !(c.Rate > 0):
		return fmt.Errorf("%w: rate must be positive", ErrConfig)
	case m.Create < 0 || m.Read < 0 || m.Update < 0 || m.Delete < 0:
		return fmt.Errorf("%w: negative mix weight", ErrConfig)
	case c.IDBase < 0:
		return fmt.Errorf("%w: negative id base", ErrConfig)
	case c.Timeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	return nil
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	c.Targets = append([]string(nil), c.Targets...)
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Mix.total() == 0 {
		c.Mix = DefaultMix
	}
	if c.IDBase == 0 {
		c.IDBase = DefaultIDBase
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	return c
}
