// Command shopsvc is ghostgate's example service: an HTTP API over the orders table that takes
// part in ghostgate's cut-over as a graybox participant (see package service for the routes).
//
//	shopsvc --dsn 'ghostgate:ghostgate@tcp(127.0.0.1:13306)/shop' --listen 127.0.0.1:8081 \
//	        --controller http://127.0.0.1:8470 --secret-file /run/secrets/ghostgate \
//	        --mode http --shed-writes
//
// Every flag can also come from the environment variable shown in its usage; a flag given on the
// command line wins. The secret comes from --secret-file or SHOPSVC_SECRET (never a flag: it
// would show in ps). SIGTERM and SIGINT shut it down cleanly (deregistering from the
// controller); in signal mode SIGUSR2 (or --signal) is the controller's wake-up, never a kill.
//
// Exit codes: 0 after a clean shutdown, 1 on an error, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ghostgate/ghostgate/examples/shop/service"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// errUsage marks a flag error (exit code 2).
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	opts, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "shopsvc:", err)
		return 2
	}
	if err := service.Run(ctx, opts); err != nil {
		fmt.Fprintln(stderr, "shopsvc:", err)
		return 1
	}
	return 0
}

// parse reads the flags, falling back to the environment for each.
func parse(args []string, getenv func(string) string, stderr io.Writer) (service.Options, error) {
	fs := flag.NewFlagSet("shopsvc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var o service.Options
	var mode, secretFile, level string
	fs.StringVar(&o.DSN, "dsn", env("SHOPSVC_DSN", ""), "MySQL DSN of the database holding the table (SHOPSVC_DSN)")
	fs.StringVar(&o.Listen, "listen", env("SHOPSVC_LISTEN", "127.0.0.1:8080"), "listen address (SHOPSVC_LISTEN)")
	fs.StringVar(&o.Table, "table", env("SHOPSVC_TABLE", ""), "table to serve, default orders (SHOPSVC_TABLE)")
	fs.StringVar(&o.ControllerURL, "controller", env("SHOPSVC_CONTROLLER", "http://127.0.0.1:8470"), "base URL of `migrate serve`; several, comma-separated, are the controllers of a fleet, tried in turn (SHOPSVC_CONTROLLER)")
	fs.StringVar(&secretFile, "secret-file", env("SHOPSVC_SECRET_FILE", ""), "file holding the participant secret; else $SHOPSVC_SECRET (SHOPSVC_SECRET_FILE)")
	fs.StringVar(&o.Service, "service", env("SHOPSVC_SERVICE", "shopsvc"), "service name (SHOPSVC_SERVICE)")
	fs.StringVar(&o.InstanceID, "instance-id", env("SHOPSVC_INSTANCE_ID", ""), "instance id, default <service>-<listen address> (SHOPSVC_INSTANCE_ID)")
	fs.StringVar(&mode, "mode", env("SHOPSVC_MODE", string(wire.ModeHTTP)), "how the controller reaches the instance: http or signal (SHOPSVC_MODE)")
	fs.StringVar(&o.Signal, "signal", env("SHOPSVC_SIGNAL", wire.DefaultSignal), "signal of signal mode: SIGUSR2 or SIGUSR1 (SHOPSVC_SIGNAL)")
	fs.StringVar(&o.AdvertiseURL, "advertise-url", env("SHOPSVC_ADVERTISE_URL", ""), "base URL the controller reaches in http mode, default http://<listen address> (SHOPSVC_ADVERTISE_URL)")
	fs.BoolVar(&o.ShedWrites, "shed-writes", env("SHOPSVC_SHED_WRITES", "") == "true", "answer writes 429 during a cut-over (SHOPSVC_SHED_WRITES=true)")
	fs.DurationVar(&o.RetryAfter, "retry-after", envDuration(getenv, "SHOPSVC_RETRY_AFTER", time.Second), "Retry-After of a shed write (SHOPSVC_RETRY_AFTER)")
	fs.BoolVar(&o.ReportMigrating, "report-migrating", env("SHOPSVC_REPORT_MIGRATING", "") == "true", "/readyz answers 503 during a cut-over (SHOPSVC_REPORT_MIGRATING=true)")
	fs.DurationVar(&o.Heartbeat, "heartbeat", envDuration(getenv, "SHOPSVC_HEARTBEAT", 0), "lease renewal interval, 0 = the controller's suggestion (SHOPSVC_HEARTBEAT)")
	fs.BoolVar(&o.Admin, "admin", env("SHOPSVC_ADMIN", "") == "true", "serve PUT /admin/latency (body \"300ms\"; \"0\" ends it) to slow /orders down on purpose: unauthenticated, for demos and tests only (SHOPSVC_ADMIN=true)")
	fs.DurationVar(&o.HealthWindow, "health-window", envDuration(getenv, "SHOPSVC_HEALTH_WINDOW", 0), "span of the request figures (p99, errors) reported to the controller, 0 = graybox's 5s (SHOPSVC_HEALTH_WINDOW)")
	fs.StringVar(&level, "log-level", env("SHOPSVC_LOG_LEVEL", "info"), "debug, info, warn or error (SHOPSVC_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	o.Mode = wire.Mode(mode)
	if urls := strings.Split(o.ControllerURL, ","); len(urls) > 1 {
		o.ControllerURL, o.ControllerURLs = urls[0], urls[1:]
	}
	secret, err := readSecret(secretFile, getenv)
	if err != nil {
		return o, err
	}
	o.Secret = secret
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return o, fmt.Errorf("%w: log level: %w", errUsage, err)
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// readSecret reads the secret from file (trailing newline dropped) or $SHOPSVC_SECRET.
func readSecret(file string, getenv func(string) string) ([]byte, error) {
	if file == "" {
		if s := getenv("SHOPSVC_SECRET"); s != "" {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("%w: no secret: give --secret-file or set SHOPSVC_SECRET", errUsage)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: secret: %w", errUsage, err)
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}

func envDuration(getenv func(string) string, name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(name)); err == nil {
		return d
	}
	return def
}
