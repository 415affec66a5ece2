package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// SetRequest records the request migration id was submitted with (its gate's limits, approval
// mode and versions), so that a controller that takes the migration over builds the same gate
// instead of its own defaults (issue 14). A queued migration has it from Enqueue. It is the
// owner's write, fenced like every other.
func (s *Store) SetRequest(ctx context.Context, id string, request json.RawMessage) error {
	if !json.Valid(request) {
		return errors.New("store: request is not valid JSON")
	}
	return s.updateRow(ctx, id, "request = ?", true, string(request))
}

// Request returns the request migration id was submitted with; nil when none was recorded (a
// migration of an older controller, or of `migrate run`).
func (s *Store) Request(ctx context.Context, id string) (json.RawMessage, error) {
	var request sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT request FROM "+s.migrations+" WHERE id = ?", id).Scan(&request)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	case err != nil:
		return nil, fmt.Errorf("store: read the request of %s: %w", id, err)
	case !request.Valid:
		return nil, nil
	}
	return json.RawMessage(request.String), nil
}
