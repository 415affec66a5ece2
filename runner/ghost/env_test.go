package ghost

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// The running worker's environment (as any process of the same user reads it in /proc) holds
// none of the controller's secrets, though the controller has them in its own.
func TestWorkerDoesNotInheritSecrets(t *testing.T) {
	for _, name := range secretEnv {
		t.Setenv(name, "s3cr3t-"+name)
	}
	t.Setenv("GHOSTGATE_HARMLESS", "kept")
	db := sandboxtest.New(t)
	seedBig(t, db, 20000)
	spec := testSpec(t, db, "big", "ADD COLUMN extra INT NULL")
	spec.ChunkSize = 10
	w := startWorker(t, spec)
	events := collect(w)
	waitEvent(t, w, events, 60*time.Second, "copy progress", copying)
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w.cmd.Process.Pid))
	require.NoError(t, err)
	require.Contains(t, string(env), "GHOSTGATE_HARMLESS=kept", "the environment is read from the worker")
	require.NotContains(t, string(env), "s3cr3t-")
	for _, kv := range bytes.Split(env, []byte{0}) {
		for _, name := range secretEnv {
			require.False(t, bytes.HasPrefix(kv, []byte(name+"=")), "worker has %s", name)
		}
	}
	require.NoError(t, w.Abort())
	_, _ = w.Wait()
}
