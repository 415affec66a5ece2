package runner

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ghostgate/ghostgate/store"
)

// The last chunk size and the last nice ratio win, each on its own; other kinds and unreadable
// data are passed over.
func TestTuningOf(t *testing.T) {
	ev := func(kind store.EventKind, data string) store.Event {
		return store.Event{Kind: kind, Data: json.RawMessage(data)}
	}
	got := tuningOf([]store.Event{
		ev(store.EventTuning, `{"chunk_size":10,"chunk_by":"alice"}`),
		ev(store.EventTuning, `{"nice_ratio":4,"nice_by":"bob"}`),
		ev(store.EventNote, `{"chunk_size":99}`),
		ev(store.EventTuning, `not json`),
		ev(store.EventTuning, `{"chunk_size":500,"chunk_by":"carol"}`),
		ev(store.EventTuning, `{"nice_ratio":0,"nice_by":"dave"}`),
	})
	assert.Equal(t, int64(500), got.ChunkSize)
	assert.Equal(t, "carol", got.ChunkBy)
	if assert.NotNil(t, got.NiceRatio, "0 is a ratio an operator set") {
		assert.Equal(t, 0.0, *got.NiceRatio)
	}
	assert.Equal(t, "chunk size 500 (set by carol) and nice ratio 0 (set by dave)", got.describe())

	assert.Equal(t, tuning{}, tuningOf(nil))
	assert.Empty(t, tuning{}.describe())
	half := 0.5
	assert.Equal(t, "nice ratio 0.5 (set by an operator)", tuning{NiceRatio: &half}.describe())
}
