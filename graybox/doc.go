// Package graybox is the library a service imports to take part in ghostgate's cut-over: the
// atomic rename of a migrated table happens only once every instance that uses the table said
// it is ready (prepare), and every instance learns whether it happened (commit) or not (abort).
//
// A Participant registers the instance with the controller under a lease kept alive by
// heartbeats, and answers phases either on an HTTP hook (Participant.Hook) or, for processes on
// the controller's host, on a signal (SIGUSR2 by default) after which it fetches the pending phase.
// It runs the service's callbacks once per (migration, phase), bounded by the request's deadline,
// and acknowledges with signed messages (package wire). Around it: Table reads and writes an
// expand/contract change (e.g. status → status_v2) in the shape the phase calls for, Readiness
// and ShedWrites take the instance through the cut-over, and Rollout moves readers to the new
// version in batches by a hash of a key. graybox has no globals and logs nothing (see
// Config.Observe); it depends on the standard library and package wire only.
//
// A service uses it like this:
//
//	p, err := graybox.New(graybox.Config{
//		ControllerURL: "http://127.0.0.1:8470",
//		Secret:        secret, // shared with `migrate serve`
//		Service:       "orders", InstanceID: "orders-" + addr,
//		Tables:        []string{"shop.orders"}, Versions: map[string]string{"shop.orders": "v1"},
//		Mode:          wire.ModeHTTP, HookURL: "http://" + addr + wire.HookPath,
//	}, graybox.Handlers{
//		Prepare: func(ctx context.Context, r wire.PhaseRequest) error { return warmCaches(ctx) },
//		Commit:  func(ctx context.Context, r wire.PhaseRequest) error { return nil },
//	})
//	if err != nil { return err }
//	orders, err := graybox.NewTable[Order](graybox.TableConfig{Schema: "shop", Table: "orders",
//		Key: "id", OldVersion: "v1", NewVersion: "v2"}, p) // Order.Status `gg:"v1:status,v2:status_v2"`
//	mux := http.NewServeMux()
//	mux.Handle("POST "+wire.HookPath, p.Hook())
//	mux.Handle("GET /readyz", graybox.Readiness{Migrating: p.Migrating, ReportMigrating: true})
//	mux.Handle("/", graybox.ShedWrites(p.Migrating, time.Second, api(orders, db)))
//	go p.Run(ctx) // registers, heartbeats, deregisters when ctx ends
//
// In signal mode set Mode: wire.ModeSignal instead of HookURL; Run then listens for the signal.
//
// Several controllers sharing one state database (a fleet) serve any participant: name the
// others in ControllerURLs (or give the URL of a Service in front of them), and a participant
// whose controller stops answering moves to the next one and registers there again.
package graybox
