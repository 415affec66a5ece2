package tui

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/store"
)

// TestStatusTextQueued: a queued migration shows its place in the queue; one a scheduler has
// claimed (no place any more) shows its status.
func TestStatusTextQueued(t *testing.T) {
	pos := 2
	v := client.MigrationView{Migration: store.Migration{Status: migration.StatusQueued}, QueuePosition: &pos}
	assert.Equal(t, "queued #3", statusText(v))
	v.QueuePosition = nil
	assert.Equal(t, "queued", statusText(v))
}

// TestLabelNamesCluster: with several clusters, a migration's label says which one.
func TestLabelNamesCluster(t *testing.T) {
	v := client.MigrationView{Migration: store.Migration{Schema: "shop", Table: "orders"}}
	assert.Equal(t, "shop.orders", label(v))
	v.Cluster = "eu-1"
	assert.Equal(t, "eu-1:shop.orders", label(v))
}
