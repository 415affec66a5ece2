// Command migrate is ghostgate's command line: plan and run online schema changes on MySQL and
// MariaDB. See `migrate --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ghostgate/ghostgate/internal/cli"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

func main() {
	// A gh-ost worker is this binary re-executed by the runner: it runs one migration and exits.
	ghost.MaybeRunWorker()
	cli.QuietDriver()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], cli.SystemIO())
	stop()
	os.Exit(code)
}
