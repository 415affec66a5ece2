package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewIDIsSortableAndValid(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 200 {
		id, err := newID(base.Add(time.Duration(i) * time.Millisecond))
		require.NoError(t, err)
		assert.Len(t, id, idLen)
		assert.True(t, validID(id), id)
		assert.False(t, seen[id], "duplicate %s", id)
		assert.Greater(t, id, prev, "ids sort by time")
		seen[id], prev = true, id
	}
}

func TestValidID(t *testing.T) {
	tests := map[string]bool{
		"01KAMZ5Q8D7W2C3V4B5N6M7P8Q": true,
		"01KAMZ5Q8D7W2C3V4B5N6M7P8":  false, // short
		"01KAMZ5Q8D7W2C3V4B5N6M7P8I": false, // I is not Crockford
		"01kamz5q8d7w2c3v4b5n6m7p8q": false, // lower case
		"' OR 1=1 --               ": false,
	}
	for id, want := range tests {
		assert.Equal(t, want, validID(id), id)
	}
}
