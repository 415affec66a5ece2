package store

import (
	"context"
	"fmt"
	"strings"
)

// MaxCandidates bounds the ids an AmbiguousIDError lists.
const MaxCandidates = 10

// AmbiguousIDError refuses a short id that more than one migration's id starts or ends with.
type AmbiguousIDError struct {
	Ref        string   // what was given
	Candidates []string // the matching ids, newest first (at most MaxCandidates)
	More       bool     // more matched than are listed
}

// Error implements error: the candidates, so that the user can pick one.
func (e *AmbiguousIDError) Error() string {
	more := ""
	if e.More {
		more = ", …"
	}
	return fmt.Sprintf("id %q is ambiguous: it matches %s%s; give more characters", e.Ref, strings.Join(e.Candidates, ", "), more)
}

// Resolve returns the full id of the migration that ref names: the id itself, or any unique
// prefix or suffix of it, case-insensitively, as git and docker take short ids (issue 13: the
// TUI and progress lines show the last 8 characters, which status answered with a 404). No
// match is ErrNotFound; several are an *AmbiguousIDError listing them.
func (s *Store) Resolve(ctx context.Context, ref string) (string, error) {
	id := strings.ToUpper(strings.TrimSpace(ref))
	if id == "" || len(id) > idLen || !crockfordOnly(id) {
		return "", fmt.Errorf("%w: %q is not a migration id (%d characters of 0-9 and A-Z without I, L, O, U, or a part of one)", ErrNotFound, ref, idLen)
	}
	if len(id) == idLen {
		return id, nil // a whole id is looked up as it is, by whoever asks for the migration
	}
	// id holds only base32 digits, so it has no LIKE wildcard to escape.
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM "+s.migrations+
		" WHERE id LIKE CONCAT(?, '%') OR id LIKE CONCAT('%', ?) ORDER BY id DESC LIMIT ?", id, id, MaxCandidates+1)
	if err != nil {
		return "", fmt.Errorf("store: resolve %q: %w", ref, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return "", fmt.Errorf("store: resolve %q: %w", ref, err)
		}
		found = append(found, m)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("store: resolve %q: %w", ref, err)
	}
	switch {
	case len(found) == 0:
		return "", fmt.Errorf("%w: no migration id starts or ends with %q", ErrNotFound, ref)
	case len(found) > 1:
		e := &AmbiguousIDError{Ref: ref, Candidates: found, More: len(found) > MaxCandidates}
		e.Candidates = e.Candidates[:min(len(found), MaxCandidates)]
		return "", e
	}
	return found[0], nil
}

// crockfordOnly reports whether s (upper case) holds only digits of crockford.
func crockfordOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(crockford, rune(s[i])) {
			return false
		}
	}
	return true
}
