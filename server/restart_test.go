package server_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/server"
	"github.com/ghostgate/ghostgate/store"
)

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

// TestRestartListsInterrupted: a migration left running by a controller that died is listed by
// a new controller as interrupted, with the cleanup command, and cannot be steered.
func TestRestartListsInterrupted(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	host, err := os.Hostname()
	require.NoError(t, err)
	dead, err := store.Open(ctx, f.admin, store.Options{Database: f.stName, Owner: store.Owner{Host: host, PID: deadPID(t)}})
	require.NoError(t, err)
	m, err := dead.Create(ctx, store.NewMigration{Schema: f.d.Name, Table: "items", DDL: ghostDDL, Strategy: "ghost"})
	require.NoError(t, err)
	require.NoError(t, dead.Transition(ctx, m.ID, migration.StatusPlanning, "test"))
	require.NoError(t, dead.Transition(ctx, m.ID, migration.StatusRunning, "test"))

	list, err := f.api.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	v := list[0]
	require.Equal(t, m.ID, v.ID)
	require.Equal(t, migration.StatusRunning, v.Status)
	require.True(t, v.Interrupted)
	require.False(t, v.Live)
	require.Equal(t, store.CleanupCommand+" --migration "+m.ID, v.Cleanup)
	require.Contains(t, v.Reason, "no longer running")

	got, err := f.api.Get(ctx, m.ID)
	require.NoError(t, err)
	require.True(t, got.Interrupted)

	_, err = f.api.Cancel(ctx, m.ID)
	require.ErrorIs(t, err, client.ErrConflict)
	require.Contains(t, err.Error(), store.CleanupCommand)

	// It still holds its table: a new migration there is refused until it is cleaned up.
	_, err = f.api.Create(ctx, client.CreateRequest{DDL: "ALTER TABLE items ADD COLUMN z INT NULL", Schema: f.d.Name})
	require.ErrorIs(t, err, client.ErrConflict)
	left, err := f.ctrl.Leftovers(ctx)
	require.NoError(t, err)
	var found bool
	for _, l := range left {
		found = found || l.MigrationID == m.ID
	}
	require.True(t, found, "reported as a leftover at start: %+v", left)
}

// TestServeShutdownCancels: ending Serve's context cancels the running migration cleanly and
// records it; Serve returns once it has ended.
func TestServeShutdownCancels(t *testing.T) {
	f := newFixture(t, 2000)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h, err := server.NewHandler(f.ctrl, server.HandlerOptions{Token: token, OpenReads: true})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, ln, h, f.ctrl) }()

	api, err := client.New("http://"+ln.Addr().String(), token, nil)
	require.NoError(t, err)
	views, err := api.Create(ctx, client.CreateRequest{DDL: ghostDDL, Schema: f.d.Name})
	require.NoError(t, err)
	id := views[0].ID
	f.waitStatus(t, id, migration.StatusReady, 90*time.Second) // gh-ost has its tables now
	stream, err := api.Stream(ctx, id)
	require.NoError(t, err)
	defer stream.Close()

	cancel()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(90 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	m, err := f.store.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, migration.StatusCancelled, m.Status)
	evs, err := f.store.Events(context.Background(), id, 0, 0)
	require.NoError(t, err)
	var noted bool
	for _, e := range evs {
		noted = noted || (e.Kind == store.EventNote && e.Message == "controller shutting down: migration cancelled, the original table stays as it was")
	}
	require.True(t, noted, "shutdown recorded")
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"))
	require.Equal(t, []string{"items"}, f.d.Tables(t))
	_, err = f.api.Create(context.Background(), client.CreateRequest{DDL: "ALTER TABLE items ADD COLUMN z INT NULL", Schema: f.d.Name})
	require.ErrorIs(t, err, client.ErrUnavailable, "a closed controller takes no new migrations")
}
