package loadclient

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Client runs the load. Create it with New, then Start, and Stop to end the run.
type Client struct {
	cfg  Config
	hc   *http.Client
	own  bool // hc is ours: close its idle connections when done
	ids  atomic.Int64
	turn atomic.Uint64 // round-robin position over Targets

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	began   time.Time
	workers []*worker
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Client{cfg: cfg, hc: cfg.HTTPClient}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Workers
		c.hc, c.own = &http.Client{Transport: tr, Timeout: cfg.Timeout}, true
	}
	c.ids.Store(cfg.IDBase)
	return c, nil
}

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("loadclient: already started")

// Start starts the workers. They run until Stop, or until ctx ends (Stop must still be called
// for the result).
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return ErrStarted
	}
	c.started = true
	ctx, c.cancel = context.WithCancel(ctx)
	c.done = make(chan struct{})
	c.began = time.Now()
	interval := time.Duration(float64(time.Second) * float64(c.cfg.Workers) / c.cfg.Rate)
	var wg sync.WaitGroup
	for i := range c.cfg.Workers {
		w := newWorker(c, uint64(c.cfg.Seed), uint64(i))
		c.workers = append(c.workers, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Workers start spread over one interval so that the rate is smooth.
			w.loop(ctx, c.began.Add(interval*time.Duration(i)/time.Duration(c.cfg.Workers)), interval)
		}()
	}
	go func() {
		wg.Wait()
		close(c.done)
	}()
	return nil
}

// Stop ends the run: the workers finish the request in flight (a request is never cut off by
// Stop, so that its outcome is known), and the result with the model is returned. Stop before
// Start returns an empty result.
func (c *Client) Stop() Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return Result{Model: newModel(c.cfg.IDBase)}
	}
	c.cancel()
	<-c.done
	elapsed := time.Since(c.began)
	if c.own {
		c.hc.CloseIdleConnections()
	}
	m := newModel(c.cfg.IDBase)
	recs := make([]*recorder, len(c.workers))
	for i, w := range c.workers {
		m.merge(w.model)
		recs[i] = w.rec
	}
	// Ids allocated but never recorded cannot exist; the range covers every id handed out.
	if next := c.ids.Load(); next > m.next {
		m.next = next
	}
	res := summarize(recs, elapsed)
	res.Model = m
	return res
}

// Progress is a snapshot of the requests sent so far, safe to call while the client runs.
func (c *Client) Progress() int64 {
	var n int64
	c.mu.Lock()
	ws := c.workers
	c.mu.Unlock()
	for _, w := range ws {
		n += w.sent.Load()
	}
	return n
}

// target picks the next instance, round robin.
func (c *Client) target() string {
	n := c.turn.Add(1) - 1
	return c.cfg.Targets[n%uint64(len(c.cfg.Targets))]
}

// newRand is a worker's random source: distinct per worker, reproducible from the seed.
func newRand(seed, worker uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, worker)) }
