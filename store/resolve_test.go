package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveShortIDs(t *testing.T) {
	s, _ := newStore(t, Options{})
	ctx := t.Context()
	var ids []string
	for _, table := range []string{"a", "b", "c"} {
		m, err := s.Create(ctx, sample(table))
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	last := ids[2]
	for _, ref := range []string{last, strings.ToLower(last), last[18:], strings.ToLower(last[18:]), " " + last[20:] + " "} {
		got, err := s.Resolve(ctx, ref)
		require.NoError(t, err, ref)
		assert.Equal(t, last, got, ref)
	}
	// A prefix long enough to be unique: the time part plus the whole random part but one.
	got, err := s.Resolve(ctx, strings.ToLower(last[:25]))
	require.NoError(t, err)
	assert.Equal(t, last, got)

	// Created within the same second: their first characters are shared.
	_, err = s.Resolve(ctx, last[:4])
	var amb *AmbiguousIDError
	require.ErrorAs(t, err, &amb)
	assert.Equal(t, []string{ids[2], ids[1], ids[0]}, amb.Candidates, "newest first")
	assert.False(t, amb.More)
	assert.Contains(t, err.Error(), ids[0])
	assert.Contains(t, err.Error(), "give more characters")

	for _, ref := range []string{"ZZZZZZZZZZ", "", "01%", "abc_", "' OR 1=1 --", strings.Repeat("0", 27)} {
		_, err := s.Resolve(ctx, ref)
		assert.True(t, errors.Is(err, ErrNotFound), "%q: %v", ref, err)
	}
}
