package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Example shows both ends of one signed exchange: the controller delivering a phase to a
// service's hook, the hook verifying it and answering with a signed Ack, and the controller
// verifying that answer. A replay of the same request is refused.
func Example() {
	secret := []byte("shared-secret-of-at-least-16-bytes")
	hookVerifier, _ := wire.NewVerifier(wire.VerifierConfig{Secret: secret})
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := wire.ReadBody(r.Body)
		if err := hookVerifier.Verify(r, body, time.Now()); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(wire.ErrorResponse{Error: err.Error()})
			return
		}
		var req wire.PhaseRequest
		_ = json.Unmarshal(body, &req)
		out, _ := json.Marshal(wire.Ack{InstanceID: "i-1", MigrationID: req.MigrationID, Phase: req.Phase, Ready: true})
		wire.SignResponse(w.Header(), r, out, secret, time.Now())
		_, _ = w.Write(out)
	})
	srv := httptest.NewServer(hook)
	defer srv.Close()

	// The controller's side.
	ctlVerifier, _ := wire.NewVerifier(wire.VerifierConfig{Secret: secret})
	body, _ := json.Marshal(wire.PhaseRequest{
		MigrationID: "42", Schema: "shop", Table: "orders", OldVersion: "v1", NewVersion: "v2",
		Phase: wire.PhasePrepare, Deadline: time.Now().Add(30 * time.Second), Attempt: 1,
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+wire.HookPath, bytes.NewReader(body))
	wire.Sign(req, body, secret, time.Now())
	for range 2 {
		req.Body, _ = req.GetBody()
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		out, _ := wire.ReadBody(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var e wire.ErrorResponse
			_ = json.Unmarshal(out, &e)
			fmt.Println(resp.StatusCode, e.Error)
			continue
		}
		var ack wire.Ack
		_ = json.Unmarshal(out, &ack)
		fmt.Println(resp.StatusCode, ack.Phase, ack.Ready, ctlVerifier.VerifyResponse(resp, req, out, time.Now()))
	}
	// Output:
	// 200 prepare true <nil>
	// 401 wire: replayed request
}

// ExampleVerifier_Verify shows how a server tells the failures apart.
func ExampleVerifier_Verify() {
	secret := []byte("shared-secret-of-at-least-16-bytes")
	v, _ := wire.NewVerifier(wire.VerifierConfig{Secret: secret, Window: time.Minute})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	req := httptest.NewRequest(http.MethodGet, wire.ParticipantPath(wire.PathPending, "i-1"), nil)
	wire.Sign(req, nil, secret, now.Add(-2*time.Minute))

	err := v.Verify(req, nil, now)
	var skew *wire.SkewError
	fmt.Println(errors.Is(err, wire.ErrUnauthorized), errors.Is(err, wire.ErrStaleTimestamp), errors.As(err, &skew) && skew.Window == time.Minute)
	// Output: true true true
}
