package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/ghostgate/ghostgate/client"
)

// EnvServer is the controller's URL when --server is not given.
const EnvServer = "GHOSTGATE_SERVER"

// ClientOptions say how to reach a running `migrate serve`.
type ClientOptions struct {
	Server    string
	TokenFile string
	As        string // who the actions are recorded for
}

func (o *ClientOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Server, "server", client.DefaultServer, "URL of migrate serve (or $"+EnvServer+")")
	fs.StringVar(&o.TokenFile, "token-file", "", "file with the API token: its first `TOKEN` or `NAME TOKEN` line (or $"+EnvToken+")")
	fs.StringVar(&o.As, "as", "", "who the event log records for these actions, with the token's name (default: user@host)")
}

// client builds the API client; the token is optional for reads on loopback.
func (o *ClientOptions) client() (*client.Client, error) {
	token, err := clientToken(o.TokenFile)
	if err != nil {
		return nil, err
	}
	c, err := client.New(o.Server, token, nil)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	return c.WithActor(cmp.Or(o.As, defaultActor())), nil
}

// apiError makes a client error say which server it came from.
func apiError(c *client.Client, err error) error {
	var api *client.APIError
	if errors.As(err, &api) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w (is migrate serve running at %s?)", err, c.Server())
}
