package server

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/store"
)

// Every error the API answers with a status other than 500 has a code of its own (a client
// branches on codes, never on messages), and its message has no package prefix.
func TestEveryStatusHasACode(t *testing.T) {
	errs := []error{
		badRequest("x"), cutover.ErrConfig, cutover.ErrBadApproval, planner.ErrNoDatabase, planner.ErrNotSchemaChange,
		&store.AmbiguousIDError{Ref: "01", Candidates: []string{"A", "B"}}, store.ErrNotFound, cutover.ErrUnknownInstance,
		ErrNoLog, &BlockedError{}, &store.ActiveMigrationError{}, ErrNotLive, ErrNoGate, cutover.ErrNotManual,
		runner.ErrNotRevertible, ghost.ErrNotResumable, ErrClosed,
	}
	for _, e := range errs {
		err := fmt.Errorf("wrapped: %w", e)
		if statusOf(err) == http.StatusInternalServerError {
			t.Errorf("%v: 500", e)
			continue
		}
		assert.NotEqual(t, client.CodeInternal, codeOf(err), "%v (status %d) has no code", e, statusOf(err))
		assert.NotRegexp(t, `^(wrapped: )?(server|store|cutover|planner|runner|ghost): `, errorBody(err).Error)
	}
	assert.Equal(t, client.CodeInternal, codeOf(fmt.Errorf("anything else")))
}
