package cli

import (
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The chunk flags reach the runner: no --chunk-size means "start where this server's copies
// say" (0), --chunk-max-lock-wait sets the sizer's lock-wait limit, and a negative one is a usage
// error naming the flag.
func TestRunConfigChunkFlags(t *testing.T) {
	parse := func(args ...string) *RunOptions {
		o := &RunOptions{}
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		addRunnerFlags(fs, o)
		require.NoError(t, fs.Parse(args))
		return o
	}
	cfg := &mysql.Config{Addr: "127.0.0.1:3306", User: "u"}
	replica := []string{"127.0.0.1:3307"}
	rc, err := runConfig(parse(), cfg, replica)
	require.NoError(t, err)
	assert.Zero(t, rc.Ghost.ChunkSize)
	assert.Equal(t, 50*time.Millisecond, rc.Chunk.MaxLockWait)

	rc, err = runConfig(parse("--chunk-max-lock-wait", "200ms", "--chunk-size", "5000"), cfg, replica)
	require.NoError(t, err)
	assert.Equal(t, 200*time.Millisecond, rc.Chunk.MaxLockWait)
	assert.Equal(t, int64(5000), rc.Ghost.ChunkSize)

	_, err = runConfig(parse("--chunk-max-lock-wait", "-1s"), cfg, replica)
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.Contains(t, err.Error(), "--chunk-max-lock-wait -1s")
}
