// Command migrate is ghostgate's command line: plan and run online schema changes on MySQL and
// MariaDB. See `migrate --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ghostgate/ghostgate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], cli.SystemIO())
	stop()
	os.Exit(code)
}
