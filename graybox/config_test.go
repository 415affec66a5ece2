package graybox_test

import (
	"errors"
	"testing"

	"github.com/ghostgate/ghostgate/graybox/internal/require"

	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

func TestConfigValidate(t *testing.T) {
	valid := graybox.Config{
		ControllerURL: "http://127.0.0.1:7070", Secret: secret, Service: "orders", InstanceID: "i-1",
		Tables: []string{table}, Versions: map[string]string{table: "v1"}, Mode: wire.ModeHTTP,
		HookURL: "http://127.0.0.1:8080" + wire.HookPath,
	}
	tests := []struct {
		name string
		edit func(*graybox.Config)
		ok   bool
	}{
		{"valid http", func(*graybox.Config) {}, true},
		{"valid signal", func(c *graybox.Config) { c.Mode, c.HookURL = wire.ModeSignal, "" }, true},
		{"valid signal SIGUSR1", func(c *graybox.Config) { c.Mode, c.Signal = wire.ModeSignal, "SIGUSR1" }, true},
		{"no controller", func(c *graybox.Config) { c.ControllerURL = "" }, false},
		{"relative controller", func(c *graybox.Config) { c.ControllerURL = "127.0.0.1:7070" }, false},
		{"short secret", func(c *graybox.Config) { c.Secret = []byte("x") }, false},
		{"no service", func(c *graybox.Config) { c.Service = "" }, false},
		{"no instance", func(c *graybox.Config) { c.InstanceID = "" }, false},
		{"no tables", func(c *graybox.Config) { c.Tables, c.Versions = nil, nil }, false},
		{"unqualified table", func(c *graybox.Config) { c.Tables = []string{"orders"}; c.Versions = nil }, false},
		{"version of unknown table", func(c *graybox.Config) { c.Versions = map[string]string{"a.b": "v1"} }, false},
		{"http without hook", func(c *graybox.Config) { c.HookURL = "" }, false},
		{"bad mode", func(c *graybox.Config) { c.Mode = "smoke" }, false},
		{"bad signal", func(c *graybox.Config) { c.Mode, c.Signal = wire.ModeSignal, "SIGTERM" }, false},
		{"negative heartbeat", func(c *graybox.Config) { c.Heartbeat = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.edit(&c)
			err := c.Validate()
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.True(t, errors.Is(err, graybox.ErrConfig) || errors.Is(err, wire.ErrInvalid), "typed error: %v", err)
			_, err = graybox.New(c, graybox.Handlers{})
			require.Error(t, err, "New validates")
		})
	}
}

// TestConfigIsCopied: the caller's later edits of slices and maps do not reach the participant.
func TestConfigIsCopied(t *testing.T) {
	cfg := graybox.Config{
		ControllerURL: "http://127.0.0.1:7070", Secret: secret, Service: "orders", InstanceID: "i-1",
		Tables: []string{table}, Versions: map[string]string{table: "v1"}, Mode: wire.ModeSignal,
	}
	p, err := graybox.New(cfg, graybox.Handlers{})
	require.NoError(t, err)
	cfg.Tables[0] = "other.table"
	cfg.Versions[table] = "v9"
	s, ok := p.State(table)
	require.True(t, ok)
	require.Equal(t, "v1", s.Version)
	_, ok = p.State("other.table")
	require.False(t, ok)
}
