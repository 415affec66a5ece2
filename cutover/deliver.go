package cutover

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// view is what the gate sees of one instance for one migration.
type view struct {
	reg      wire.Registration
	live     bool
	lastBeat time.Time
	expires  time.Time // when the lease lapses (lapsed)
	has      bool      // something was delivered for the migration
	d        delivery  // a copy of it
}

// forTable lists the instances registered for "schema.table", by id, with what was delivered
// to each for migrationID.
func (r *Registry) forTable(table, migrationID string) []view {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []view
	for _, in := range r.instances {
		if !containsString(in.reg.Tables, table) {
			continue
		}
		v := view{reg: in.reg, live: in.live(now), lastBeat: in.lastBeat, expires: in.expires}
		if d, ok := in.deliveries[migrationID]; ok {
			v.has, v.d = true, *d
		}
		out = append(out, v)
	}
	sortViews(out)
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// deliveredTo lists the instances that were sent any phase of migrationID.
func (r *Registry) deliveredTo(migrationID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, in := range r.instances {
		if _, ok := in.deliveries[migrationID]; ok {
			out = append(out, id)
		}
	}
	return out
}

// delivered returns a copy of what was delivered to id for migrationID.
func (r *Registry) delivered(id, migrationID string) (delivery, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in, ok := r.instances[id]; ok {
		if d, ok := in.deliveries[migrationID]; ok {
			return *d, true
		}
	}
	return delivery{}, false
}

// begin records that req goes to id: a re-delivery of the same phase in the same round gets the
// next attempt number and keeps a ready ack already given (nothing is sent then), while a "not
// ready" ack is asked again; another phase or round replaces the delivery. It returns the
// request to send and false when there is nothing to send.
func (r *Registry) begin(id string, req wire.PhaseRequest, round int) (*instance, wire.PhaseRequest, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.instances[id]
	if !ok {
		return nil, req, false
	}
	d, ok := in.deliveries[req.MigrationID]
	if ok && d.req.Phase == req.Phase && d.round == round {
		if d.inflight || (d.acked && d.ack.Ready) {
			return in, req, false
		}
		req.Attempt = d.req.Attempt + 1
		d.acked = false
	} else {
		req.Attempt = 1
		d = &delivery{round: round}
		in.deliveries[req.MigrationID] = d
	}
	d.req, d.sentAt, d.err, d.handed = req, r.now(), "", false
	d.inflight = in.reg.Mode == wire.ModeHTTP
	d.viaDB = in.remote && in.reg.Mode == wire.ModeSignal
	return in, req, true
}

// end records the outcome of one send.
func (r *Registry) end(id string, req wire.PhaseRequest, ack *wire.Ack, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := r.instances[id]
	if !ok {
		return
	}
	d, ok := in.deliveries[req.MigrationID]
	if !ok || d.req != req {
		return // superseded by another phase, round or attempt meanwhile
	}
	d.inflight = false
	switch {
	case ack != nil && !d.acked:
		d.acked, d.ack, d.err = true, *ack, ""
	case err != nil:
		d.err = err.Error()
	}
}

// deliver sends req to instance id: over HTTP it waits for the signed ack (bounded by
// req.Deadline and ctx); by signal it leaves the phase pending and signals the pid, and the
// instance acks through the API. Failures are recorded on the delivery, not returned: the gate
// reads them from the checklist's point of view and re-delivers.
func (r *Registry) deliver(ctx context.Context, id string, req wire.PhaseRequest, round int) {
	in, req, ok := r.begin(id, req, round)
	if !ok {
		return
	}
	reg := in.reg
	if reg.Mode == wire.ModeSignal && in.remote {
		// Signalled from its own host only: handed to the controller it registered with.
		r.end(id, req, nil, r.handPhase(ctx, id, in.controller, req))
		return
	}
	if reg.Mode == wire.ModeSignal {
		err := r.signalTarget(id, reg.PID)
		if err == nil {
			err = r.cfg.Signal(reg.PID, reg.SignalName())
		}
		r.end(id, req, nil, err)
		return
	}
	ctx, cancel := context.WithDeadline(ctx, req.Deadline)
	defer cancel()
	ack, err := r.post(ctx, reg, req)
	r.end(id, req, ack, err)
}

// post POSTs the signed request to the hook and verifies the signed ack. Its errors name the
// hook and the failure but never echo what the other end sent (hookError).
func (r *Registry) post(ctx context.Context, reg wire.Registration, req wire.PhaseRequest) (*wire.Ack, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("cutover: encode phase request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, reg.HookURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("cutover: hook %s: invalid URL", reg.HookURL)
	}
	hr.Header.Set("Content-Type", "application/json")
	wire.Sign(hr, body, r.cfg.Secret, time.Now())
	resp, err := r.client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("cutover: hook %s: %s", reg.HookURL, hookError(err))
	}
	defer resp.Body.Close()
	out, err := wire.ReadBody(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("cutover: hook %s: %s", reg.HookURL, hookError(err))
	}
	if resp.StatusCode != http.StatusOK {
		// Only the status: the body is the other end's, and the API shows this error.
		return nil, fmt.Errorf("cutover: hook %s answered HTTP %d", reg.HookURL, resp.StatusCode)
	}
	// The ack is believed only when signed for this very request.
	if err := r.verifier.VerifyResponse(resp, hr, out, time.Now()); err != nil {
		return nil, fmt.Errorf("cutover: hook %s: ack refused: %w", reg.HookURL, err)
	}
	var a wire.Ack
	if err := json.Unmarshal(out, &a); err != nil {
		return nil, fmt.Errorf("cutover: hook %s: malformed ack", reg.HookURL)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("cutover: hook %s: %w", reg.HookURL, err)
	}
	if a.InstanceID != reg.InstanceID || a.MigrationID != req.MigrationID || a.Phase != req.Phase {
		return nil, fmt.Errorf("cutover: hook %s: ack for %s %s %s does not answer %s %s %s", reg.HookURL,
			a.InstanceID, a.MigrationID, a.Phase, reg.InstanceID, req.MigrationID, req.Phase)
	}
	return &a, nil
}
