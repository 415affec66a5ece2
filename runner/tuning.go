package runner

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/ghostgate/ghostgate/store"
)

// tuning is what an operator changed in a running gh-ost copy (Handle.SetChunkSize,
// Handle.SetNiceRatio), as the event log keeps it (store.EventTuning): a worker resumed after a
// crash and a controller that takes the migration over start from it, not from the configured
// values, or the copy an operator slowed down for an application that suffered would come back
// at full speed with the next worker.
type tuning struct {
	ChunkSize int64    `json:"chunk_size,omitempty"` // 0: sized by time (or configured)
	ChunkBy   string   `json:"chunk_by,omitempty"`
	NiceRatio *float64 `json:"nice_ratio,omitempty"` // nil: the configured one
	NiceBy    string   `json:"nice_by,omitempty"`
}

// merge lays a later change over t: what it sets wins, what it leaves out stays.
func (t tuning) merge(later tuning) tuning {
	if later.ChunkSize != 0 {
		t.ChunkSize, t.ChunkBy = later.ChunkSize, later.ChunkBy
	}
	if later.NiceRatio != nil {
		t.NiceRatio, t.NiceBy = later.NiceRatio, later.NiceBy
	}
	return t
}

// tuningOf folds a migration's event log into what its operators last set.
func tuningOf(evs []store.Event) tuning {
	var t tuning
	for _, e := range evs {
		var x tuning
		if e.Kind == store.EventTuning && json.Unmarshal(e.Data, &x) == nil {
			t = t.merge(x)
		}
	}
	return t
}

// describe says what t keeps, for the event log of a resumed run ("" when nothing was set).
func (t tuning) describe() string {
	var parts []string
	if t.ChunkSize != 0 {
		parts = append(parts, "chunk size "+strconv.FormatInt(t.ChunkSize, 10)+" ("+setBy(t.ChunkBy)+")")
	}
	if t.NiceRatio != nil {
		parts = append(parts, "nice ratio "+formatRatio(*t.NiceRatio)+" ("+setBy(t.NiceBy)+")")
	}
	return strings.Join(parts, " and ")
}

// setBy is "set by who", or "set by an operator" when nobody was named.
func setBy(who string) string {
	if who == "" {
		return "set by an operator"
	}
	return "set by " + who
}

// byWhom is " by who", or nothing when nobody was named.
func byWhom(who string) string {
	if who == "" {
		return ""
	}
	return " by " + who
}

// formatRatio writes a nice ratio as the operator typed it: 2, 0.5, 1.25.
func formatRatio(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }
