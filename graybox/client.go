package graybox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// StatusError is an unexpected HTTP status from the controller.
type StatusError struct {
	Method, Path string
	Code         int
	Message      string // the controller's wire.ErrorResponse, if it sent one
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("graybox: %s %s: HTTP %d: %s", e.Method, e.Path, e.Code, e.Message)
}

// Permanent reports whether retrying the same call cannot help: a client error other than 404
// (unknown instance: register again), 408 and 429. 401 counts as permanent: the secret or the
// clock is wrong, which retrying does not fix.
func (e *StatusError) Permanent() bool {
	return e.Code >= 400 && e.Code < 500 && e.Code != http.StatusNotFound &&
		e.Code != http.StatusRequestTimeout && e.Code != http.StatusTooManyRequests
}

// ErrNotRegistered means the controller does not know this instance (it restarted, or the DBA
// evicted the instance): the participant registers again.
var ErrNotRegistered = errors.New("graybox: controller does not know this instance")

// client calls the controller's participant API, signing every request.
type client struct {
	bases   []string     // ControllerURL, then ControllerURLs
	cur     atomic.Int32 // the index in bases in use
	id      string
	secret  []byte
	hc      *http.Client
	own     bool // hc is ours: close its idle connections when done
	timeout time.Duration
	verify  *wire.Verifier
}

func newClient(cfg Config) *client {
	c := &client{bases: append([]string{cfg.ControllerURL}, cfg.ControllerURLs...), id: cfg.InstanceID, secret: cfg.Secret, hc: cfg.HTTPClient, timeout: cfg.requestTimeout()}
	if c.hc == nil {
		// A private transport, not http.DefaultTransport: its idle connections (and their
		// goroutines) end with the participant instead of living in a process-wide pool.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		c.hc, c.own = &http.Client{Transport: tr}, true
	}
	// Only used for response signatures (no replay cache involved); cfg was validated.
	c.verify, _ = wire.NewVerifier(wire.VerifierConfig{Secret: cfg.Secret})
	return c
}

// failover moves from the controller at index from to the next one, unless another call moved
// already (two failing calls move once).
func (c *client) failover(from int32) {
	if len(c.bases) > 1 {
		c.cur.CompareAndSwap(from, (from+1)%int32(len(c.bases)))
	}
}

// base is the index of the controller in use.
func (c *client) base() int32 { return c.cur.Load() }

func (c *client) close() {
	if c.own {
		c.hc.CloseIdleConnections()
	}
}

// reply is what call returns: the response and the signed request it answers.
type reply struct {
	code   int
	body   []byte
	req    *http.Request
	header http.Header
}

// call sends a signed request with in as JSON body (nil: none). Expected statuses return no
// error; others a *StatusError (wrapped in ErrNotRegistered for 404).
func (c *client) call(parent context.Context, method, pattern string, in any, expect ...int) (reply, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return reply{}, fmt.Errorf("graybox: encode: %w", err)
		}
	}
	path := wire.ParticipantPath(pattern, c.id)
	at := c.cur.Load()
	req, err := http.NewRequestWithContext(ctx, method, c.bases[at]+path, bytes.NewReader(body))
	if err != nil {
		return reply{}, fmt.Errorf("graybox: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	wire.Sign(req, body, c.secret, time.Now())
	resp, err := c.hc.Do(req)
	if err != nil {
		if parent.Err() == nil {
			c.failover(at) // no answer (refused, reset, timed out): this controller is gone
		}
		return reply{}, fmt.Errorf("graybox: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := wire.ReadBody(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("graybox: %s %s: %w", method, path, err)
	}
	r := reply{code: resp.StatusCode, body: out, req: req, header: resp.Header}
	if resp.StatusCode >= 500 {
		c.failover(at) // a controller that cannot serve (its state database is gone, …)
	}
	for _, code := range expect {
		if resp.StatusCode == code {
			return r, nil
		}
	}
	se := &StatusError{Method: method, Path: path, Code: resp.StatusCode}
	var er wire.ErrorResponse
	if json.Unmarshal(out, &er) == nil {
		se.Message = er.Error
	}
	if resp.StatusCode == http.StatusNotFound {
		return r, fmt.Errorf("%w: %w", ErrNotRegistered, se)
	}
	return r, se
}

func (c *client) register(ctx context.Context, reg wire.Registration) (wire.RegistrationResponse, error) {
	var rr wire.RegistrationResponse
	r, err := c.call(ctx, http.MethodPost, wire.PathParticipants, reg, http.StatusCreated, http.StatusOK)
	if err != nil {
		return rr, err
	}
	if err := json.Unmarshal(r.body, &rr); err != nil {
		return rr, fmt.Errorf("graybox: registration response: %w", err)
	}
	return rr, nil
}

func (c *client) heartbeat(ctx context.Context, hb wire.Heartbeat) (wire.RegistrationResponse, error) {
	var rr wire.RegistrationResponse
	r, err := c.call(ctx, http.MethodPost, wire.PathHeartbeat, hb, http.StatusOK)
	if err != nil {
		return rr, err
	}
	if err := json.Unmarshal(r.body, &rr); err != nil {
		return rr, fmt.Errorf("graybox: heartbeat response: %w", err)
	}
	return rr, nil
}

func (c *client) health(ctx context.Context, h wire.HealthReport) (wire.RegistrationResponse, error) {
	var rr wire.RegistrationResponse
	r, err := c.call(ctx, http.MethodPost, wire.PathHealth, h, http.StatusOK)
	if err != nil {
		return rr, err
	}
	if err := json.Unmarshal(r.body, &rr); err != nil {
		return rr, fmt.Errorf("graybox: health response: %w", err)
	}
	return rr, nil
}

func (c *client) deregister(ctx context.Context) error {
	_, err := c.call(ctx, http.MethodDelete, wire.PathParticipant, nil, http.StatusNoContent, http.StatusOK)
	if errors.Is(err, ErrNotRegistered) {
		return nil // already gone: the goal is reached
	}
	return err
}

// pending fetches the phase waiting for this instance; ok is false when none is (204). The
// response must carry the controller's signature (wire.SignResponse): it is an instruction.
func (c *client) pending(ctx context.Context) (req wire.PhaseRequest, ok bool, err error) {
	r, err := c.call(ctx, http.MethodGet, wire.PathPending, nil, http.StatusOK, http.StatusNoContent)
	if err != nil || r.code == http.StatusNoContent {
		return req, false, err
	}
	if err := c.verify.VerifyResponse(&http.Response{Header: r.header}, r.req, r.body, time.Now()); err != nil {
		return req, false, fmt.Errorf("graybox: pending response: %w", err)
	}
	if req, err = decodeRequest(r.body); err != nil {
		return req, false, err
	}
	return req, true, nil
}

// ErrAckRefused means the controller no longer waits for this ack (409): the phase it answers
// is not pending any more (superseded, or the migration ended).
var ErrAckRefused = errors.New("graybox: controller refused the ack")

func (c *client) sendAck(ctx context.Context, ack wire.Ack) error {
	r, err := c.call(ctx, http.MethodPost, wire.PathAck, ack, http.StatusNoContent, http.StatusOK)
	if r.code == http.StatusConflict {
		return fmt.Errorf("%w: %w", ErrAckRefused, err)
	}
	return err
}
