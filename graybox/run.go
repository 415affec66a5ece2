package graybox

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Retry pacing for calls to the controller.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Run registers the instance, keeps its lease alive and, in signal mode, answers signals, until
// ctx is done; then it deregisters and returns nil. It returns an error only when the
// controller refuses the registration for good (bad secret, invalid registration) or the signal
// cannot be listened for. Every goroutine it starts has ended when it returns.
func (p *Participant) Run(ctx context.Context) error {
	defer p.client.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	// Cancelled (before the wait above) on every return, so that the signal goroutine ends
	// also when registration fails for good.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Signals and heartbeats saying "pending" both land here; one buffered slot coalesces them,
	// which is enough: one fetch serves every phase pending at that moment.
	kick := make(chan os.Signal, 1)
	if p.cfg.Mode == wire.ModeSignal {
		sig, err := osSignal(p.cfg.registration(p.pid).SignalName())
		if err != nil {
			return err
		}
		// Listen before registering: once registered the controller may signal us at any time,
		// and the default action of SIGUSR1/SIGUSR2 terminates the process.
		signal.Notify(kick, sig)
		defer signal.Stop(kick)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.serveSignals(ctx, kick)
		}()
	}

	rr, err := p.register(ctx, kick)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	p.keepAlive(ctx, rr, kick)
	p.deregister(ctx)
	return nil
}

// register registers, retrying with backoff until it succeeds, ctx ends, or the controller
// refuses for good.
func (p *Participant) register(ctx context.Context, kick chan<- os.Signal) (wire.RegistrationResponse, error) {
	reg := p.cfg.registration(p.pid)
	for b := newBackoff(); ; {
		at := p.client.base()
		rr, err := p.client.register(ctx, reg)
		if err == nil {
			p.registeredAt.Store(at)
			p.heardFrom(rr.LeaseTTL())
			p.observe(EventRegistered, nil, nil)
			p.poke(rr, kick)
			return rr, nil
		}
		p.observe(EventError, nil, err)
		if se := (*StatusError)(nil); errors.As(err, &se) && se.Permanent() {
			return rr, err
		}
		if p.client.base() != at {
			p.observe(EventFailover, nil, err)
		}
		if !b.wait(ctx) {
			return rr, ctx.Err()
		}
	}
}

// keepAlive renews the lease until ctx ends. A 404 means the controller lost the instance (it
// restarted, or the DBA evicted it): register again. Other failures are retried at the next
// beat; the lease's TTL leaves room for a few. When a call found the controller gone and moved
// to the next of ControllerURLs, the instance registers there again: a controller of a fleet
// would take the heartbeat of an instance registered elsewhere, but phases that need its host
// (signals) go through the controller it registered with. Between heartbeats it pushes health
// reports while the controller asks for them (RegistrationResponse.HealthMillis): a heartbeat
// every few seconds is too slow for a throttler that must hold a copy within a second of a
// service slowing down, and a lease renewal costs more than a report, so only the report goes
// faster.
func (p *Participant) keepAlive(ctx context.Context, rr wire.RegistrationResponse, kick chan<- os.Signal) {
	t := time.NewTimer(p.interval(rr))
	defer t.Stop()
	push := time.NewTimer(time.Hour)
	defer push.Stop()
	pushEvery := healthEvery(rr)
	resetPush := func() {
		push.Stop()
		if pushEvery > 0 {
			push.Reset(pushEvery)
		}
	}
	resetPush()
	for {
		select {
		case <-ctx.Done():
			return
		case <-push.C:
			if next, ok := p.pushHealth(ctx, kick); ok {
				pushEvery = healthEvery(next)
			}
			resetPush()
			continue
		case <-t.C:
		}
		moved := p.client.base() != p.registeredAt.Load()
		var next wire.RegistrationResponse
		var err error
		if !moved {
			at := p.client.base()
			next, err = p.client.heartbeat(ctx, p.heartbeat())
			if moved = err != nil && p.client.base() != at; moved {
				p.observe(EventFailover, nil, err)
			}
		}
		if moved || errors.Is(err, ErrNotRegistered) {
			next, err = p.register(ctx, kick)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.observe(EventError, nil, err)
		default:
			p.heardFrom(next.LeaseTTL())
			p.observe(EventHeartbeat, nil, nil)
			p.poke(next, kick)
			rr = next
			if every := healthEvery(rr); every != pushEvery {
				pushEvery = every
				resetPush()
			}
		}
		t.Reset(p.interval(rr))
	}
}

// poke wakes the signal handling when the controller says a phase is pending: a signal can be
// lost (sent before we listened, or coalesced by the kernel with an earlier one).
func (p *Participant) poke(rr wire.RegistrationResponse, kick chan<- os.Signal) {
	if !rr.Pending || p.cfg.Mode != wire.ModeSignal {
		return
	}
	select {
	case kick <- nil:
	default: // a wake-up is already queued
	}
}

// interval is the heartbeat period: the configured one, else the controller's suggestion, else
// a third of the TTL, else DefaultHeartbeat; never more than half the TTL, so that one lost
// heartbeat does not lapse the lease.
func (p *Participant) interval(rr wire.RegistrationResponse) time.Duration {
	d := p.cfg.Heartbeat
	ttl := rr.LeaseTTL()
	switch {
	case d > 0:
	case rr.HeartbeatMillis > 0:
		d = time.Duration(rr.HeartbeatMillis) * time.Millisecond
	case ttl > 0:
		d = ttl / 3
	default:
		d = DefaultHeartbeat
	}
	if ttl > 0 && d > ttl/2 {
		d = ttl / 2
	}
	return d
}

// deregister tells the controller we are gone, on a context of its own: ctx has ended.
func (p *Participant) deregister(ctx context.Context) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.requestTimeout())
	defer cancel()
	if err := p.client.deregister(dctx); err != nil {
		p.observe(EventError, nil, err)
		return
	}
	p.observe(EventDeregistered, nil, nil)
}

// serveSignals fetches and applies the pending phase on each wake-up until ctx ends.
func (p *Participant) serveSignals(ctx context.Context, kick <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
			p.fetchAndApply(ctx)
		}
	}
}

// fetchAndApply serves one pending phase. A failed fetch is not retried here: the next
// heartbeat reports the phase as still pending and wakes us again.
func (p *Participant) fetchAndApply(ctx context.Context) {
	req, ok, err := p.client.pending(ctx)
	if err != nil {
		p.observe(EventError, nil, err)
		return
	}
	p.heardFrom(0)
	if !ok {
		return
	}
	ack := p.Apply(ctx, req)
	p.deliverAck(ctx, req, ack)
}

// deliverAck posts ack, retrying with backoff until it is delivered, the controller refuses it,
// or the request's deadline (after which the controller no longer counts it) has passed; there
// is always at least one attempt.
func (p *Participant) deliverAck(ctx context.Context, req wire.PhaseRequest, ack wire.Ack) {
	for b := newBackoff(); ; {
		err := p.client.sendAck(ctx, ack)
		if err == nil {
			p.observe(EventAckSent, &req, nil)
			return
		}
		p.observe(EventError, &req, err)
		var se *StatusError
		if errors.Is(err, ErrAckRefused) || (errors.As(err, &se) && se.Permanent()) {
			return
		}
		if !time.Now().Before(req.Deadline) || !b.wait(ctx) {
			return
		}
	}
}

// backoff doubles from minBackoff to maxBackoff.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: minBackoff} }

// wait sleeps for the current delay and doubles it; false when ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, maxBackoff)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
