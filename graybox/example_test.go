package graybox_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

// Order is a row of shop.orders while status moves to status_v2.
type Order struct {
	ID     int64  `gg:"id"`
	Status string `gg:"v1:status,v2:status_v2"`
}

// Example is the package documentation's example, compiled: a service in HTTP mode with a
// versioned table, a readiness probe and write shedding during the cut-over.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var db *sql.DB // the service's pool
	addr := "127.0.0.1:8080"
	p, err := graybox.New(graybox.Config{
		ControllerURL: "http://127.0.0.1:8470",
		Secret:        []byte("shared-with-migrate-serve"),
		Service:       "orders", InstanceID: "orders-" + addr,
		Tables: []string{"shop.orders"}, Versions: map[string]string{"shop.orders": "v1"},
		Mode: wire.ModeHTTP, HookURL: "http://" + addr + wire.HookPath,
	}, graybox.Handlers{
		Prepare: func(ctx context.Context, r wire.PhaseRequest) error { return nil },
	})
	if err != nil {
		return
	}
	orders, err := graybox.NewTable[Order](graybox.TableConfig{Schema: "shop", Table: "orders",
		Key: "id", OldVersion: "v1", NewVersion: "v2"}, p)
	if err != nil {
		return
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := orders.Get(r.Context(), db, r.URL.Query().Get("id"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(o)
	})
	mux := http.NewServeMux()
	mux.Handle("POST "+wire.HookPath, p.Hook())
	mux.Handle("GET /readyz", graybox.Readiness{Migrating: p.Migrating, ReportMigrating: true})
	mux.Handle("/", graybox.ShedWrites(p.Migrating, time.Second, api))
	go func() { _ = http.ListenAndServe(addr, mux) }()
	_ = p.Run(ctx) // registers, heartbeats, deregisters when ctx ends
}

// ExampleShedWritesCounted exports what the shedding middleware did as expvar variables (a
// Prometheus GaugeFunc reading the same snapshot works alike).
func ExampleShedWritesCounted() {
	var shed graybox.ShedStats
	var migrating graybox.Switch // a Participant's Migrating in a real service
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := graybox.ShedWritesCounted(migrating.On, time.Second, &shed, api)
	expvar.Publish("graybox_shed_writes", expvar.Func(func() any { return shed.Snapshot().Shed }))
	expvar.Publish("graybox_shedding_seconds", expvar.Func(func() any { return shed.Snapshot().Shedding.Seconds() }))

	migrating.Set(true)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/orders", nil))
	migrating.Set(false)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/orders", nil))
	fmt.Println(expvar.Get("graybox_shed_writes"), shed.Snapshot().Passed)
	// Output: 1 1
}
