package native

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestBlockersFromMetadataLockInfo covers the precise path: with MariaDB's METADATA_LOCK_INFO
// plugin the engine names the holders of the table's metadata lock, not every old transaction.
// Installing a plugin changes a server, so this runs on a pair of its own.
func TestBlockersFromMetadataLockInfo(t *testing.T) {
	env := sandboxtest.Isolated(t, "native-mdl")
	d := sandboxtest.NewOn(t, env)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, c INT NOT NULL)", "CREATE TABLE other (id INT PRIMARY KEY)")
	var installed int
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.PLUGINS
		WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO'`).Scan(&installed))
	if installed == 0 {
		d.Exec(t, "INSTALL SONAME 'metadata_lock_info'")
	}

	_, holderID := holdTable(t, d)
	// A transaction on another table is old enough to be a suspect without the plugin, but it
	// does not hold t: with the plugin it must not be named as a holder.
	bystander, err := d.Primary.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = bystander.Close() })
	var bystanderID int64
	require.NoError(t, bystander.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&bystanderID))
	_, err = bystander.ExecContext(context.Background(), "BEGIN")
	require.NoError(t, err)
	_, err = bystander.ExecContext(context.Background(), "SELECT * FROM other")
	require.NoError(t, err)

	cfg := fast
	cfg.Deadline = 1500 * time.Millisecond
	_, err = New(d.Primary, cfg, nil).Run(context.Background(), "ALTER TABLE t ADD COLUMN note INT NULL, ALGORITHM=INSTANT", nil)
	var be *BlockedError
	require.ErrorAs(t, err, &be)
	b, ok := findBlocker(be.Blockers, holderID)
	require.True(t, ok, "holder %d not named in %v", holderID, be.Blockers)
	assert.Equal(t, BlockerLockHolder, b.Kind)
	assert.Equal(t, "MDL_SHARED_READ", b.LockMode)
	assert.Greater(t, b.Age, time.Duration(0))
	_, named := findBlocker(be.Blockers, bystanderID)
	assert.False(t, named, "a transaction on another table is not a holder: %v", be.Blockers)
}
