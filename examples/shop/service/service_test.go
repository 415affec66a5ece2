package service_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/internal/ctltest"
	"github.com/ghostgate/ghostgate/examples/shop/service"
	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("shop-test-secret-0123456789")

// fixture is a Service over a fresh orders table, served by httptest, with a participant whose
// phases the test applies directly (Apply), as a controller's hook would.
type fixture struct {
	db  *sandboxtest.DB
	p   *graybox.Participant
	svc *service.Service
	srv *httptest.Server
}

func newFixture(t *testing.T, cfg service.Config) *fixture {
	t.Helper()
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema)
	table := db.Name + "." + shop.Table
	p, err := graybox.New(graybox.Config{
		ControllerURL: "http://127.0.0.1:1", Secret: secret, Service: "shopsvc", InstanceID: "test",
		Tables: []string{table}, Versions: map[string]string{table: shop.OldVersion},
		Mode: wire.ModeHTTP, HookURL: "http://127.0.0.1:1" + wire.HookPath,
	}, service.PhaseHandlers(db.Primary))
	require.NoError(t, err)
	cfg.Schema = db.Name
	if cfg.Admin {
		cfg.Recorder = p.Recorder(table) // as Run wires it
	}
	svc, err := service.New(cfg, db.Primary, p)
	require.NoError(t, err)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return &fixture{db: db, p: p, svc: svc, srv: srv}
}

// phase applies a phase of migration "m1" as the controller would and requires it ready.
func (f *fixture) phase(t *testing.T, ph wire.Phase) {
	t.Helper()
	ack := f.p.Apply(context.Background(), ctltest.Request("m1", f.db.Name, shop.Table, ph, shop.OldVersion, shop.NewVersion))
	require.True(t, ack.Ready, ack.Message)
}

// do sends a request and returns the status, the body and the headers.
func (f *fixture) do(t *testing.T, method, path string, in any) (int, []byte, http.Header) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(t, err)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	require.NoError(t, err)
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out, resp.Header
}

func (f *fixture) get(t *testing.T, id int64) (shop.OrderJSON, string) {
	t.Helper()
	code, body, h := f.do(t, http.MethodGet, "/orders/"+strconv.FormatInt(id, 10), nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var o shop.OrderJSON
	require.NoError(t, json.Unmarshal(body, &o))
	return o, h.Get(service.ShapeHeader)
}

func (f *fixture) create(t *testing.T, in shop.CreateOrder) shop.OrderJSON {
	t.Helper()
	code, body, _ := f.do(t, http.MethodPost, "/orders", in)
	require.Equal(t, http.StatusCreated, code, string(body))
	var o shop.OrderJSON
	require.NoError(t, json.Unmarshal(body, &o))
	return o
}

// columns reads the stored status, status_code (NULL before the ALTER or when not written) and
// amount of id.
func (f *fixture) columns(t *testing.T, id int64) (string, sql.NullInt16, string) {
	t.Helper()
	var status, amount string
	var code sql.NullInt16
	hasCode := "NULL"
	if v, err := service.DetectVersion(context.Background(), f.db.Primary, f.db.Name, shop.Table); err == nil && v == shop.NewVersion {
		hasCode = "status_code"
	}
	require.NoError(t, f.db.Primary.QueryRow("SELECT status, "+hasCode+", amount FROM orders WHERE id = ?", id).Scan(&status, &code, &amount))
	return status, code, amount
}

func ptr[T any](v T) *T { return &v }

func TestCRUD(t *testing.T) {
	f := newFixture(t, service.Config{})

	o := f.create(t, shop.CreateOrder{ID: 42, CustomerID: 7, Status: shop.StatusPaid, AmountCents: 1205})
	require.Equal(t, int64(42), o.ID)
	got, shape := f.get(t, 42)
	require.Equal(t, "old", shape)
	require.Equal(t, shop.OrderJSON{ID: 42, CustomerID: 7, Status: shop.StatusPaid, AmountCents: 1205, UpdatedAt: o.UpdatedAt}, got)
	status, code, amount := f.columns(t, 42)
	require.Equal(t, "paid", status)
	require.False(t, code.Valid)
	require.Equal(t, "12.05", amount)

	auto := f.create(t, shop.CreateOrder{CustomerID: 8, AmountCents: 1})
	require.Equal(t, int64(43), auto.ID, "the table chooses the next id")
	require.Equal(t, shop.StatusNew, auto.Status, "the default status")

	code409, _, _ := f.do(t, http.MethodPost, "/orders", shop.CreateOrder{ID: 42, CustomerID: 1})
	require.Equal(t, http.StatusConflict, code409)
	for _, bad := range []any{
		shop.CreateOrder{CustomerID: 0},
		map[string]any{"customer_id": 1, "colour": "red"},
		shop.CreateOrder{CustomerID: 1, Status: "lost"},
	} {
		c, body, _ := f.do(t, http.MethodPost, "/orders", bad)
		require.Equal(t, http.StatusBadRequest, c, string(body))
	}

	c, body, _ := f.do(t, http.MethodPut, "/orders/42", shop.UpdateOrder{Status: ptr(shop.StatusShipped)})
	require.Equal(t, http.StatusOK, c, string(body))
	got, _ = f.get(t, 42)
	require.Equal(t, shop.StatusShipped, got.Status)
	require.Equal(t, int64(1205), got.AmountCents, "amount kept")
	require.True(t, got.UpdatedAt.After(o.UpdatedAt))
	c, _, _ = f.do(t, http.MethodPut, "/orders/42", shop.UpdateOrder{AmountCents: ptr(int64(99))})
	require.Equal(t, http.StatusOK, c)
	got, _ = f.get(t, 42)
	require.Equal(t, shop.StatusShipped, got.Status, "status kept")
	require.Equal(t, int64(99), got.AmountCents)
	c, _, _ = f.do(t, http.MethodPut, "/orders/42", shop.UpdateOrder{})
	require.Equal(t, http.StatusBadRequest, c)
	c, _, _ = f.do(t, http.MethodPut, "/orders/4242", shop.UpdateOrder{AmountCents: ptr(int64(1))})
	require.Equal(t, http.StatusNotFound, c)

	c, _, _ = f.do(t, http.MethodDelete, "/orders/42", nil)
	require.Equal(t, http.StatusNoContent, c)
	c, _, _ = f.do(t, http.MethodDelete, "/orders/42", nil)
	require.Equal(t, http.StatusNotFound, c)
	c, _, _ = f.do(t, http.MethodGet, "/orders/42", nil)
	require.Equal(t, http.StatusNotFound, c)
	c, _, _ = f.do(t, http.MethodGet, "/orders/x", nil)
	require.Equal(t, http.StatusBadRequest, c)

	c, body, _ = f.do(t, http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, c, string(body))
}

// TestVersionedAcrossAlter takes the service through prepare, the ALTER (by hand, as the rename
// would make it appear), and commit: the old shape before prepare, dual writes that fall back
// while the column does not exist, both columns written after it does, reads that prefer the
// new column and fall back to the old one where it is NULL.
func TestVersionedAcrossAlter(t *testing.T) {
	f := newFixture(t, service.Config{})
	f.create(t, shop.CreateOrder{ID: 1, CustomerID: 1, Status: shop.StatusNew, AmountCents: 100})

	f.phase(t, wire.PhasePrepare)
	require.Equal(t, graybox.ShapeDual, f.svc.Shape())
	// Before the ALTER: the dual write is refused for the unknown column and retried in the old
	// shape; reads fall back too.
	f.create(t, shop.CreateOrder{ID: 2, CustomerID: 2, Status: shop.StatusPaid, AmountCents: 200})
	c, body, _ := f.do(t, http.MethodPut, "/orders/1", shop.UpdateOrder{Status: ptr(shop.StatusPaid)})
	require.Equal(t, http.StatusOK, c, string(body))
	got, shape := f.get(t, 1)
	require.Equal(t, "dual", shape)
	require.Equal(t, shop.StatusPaid, got.Status)

	f.db.Exec(t, shop.Migration)
	version, err := service.DetectVersion(context.Background(), f.db.Primary, f.db.Name, shop.Table)
	require.NoError(t, err)
	require.Equal(t, shop.NewVersion, version)

	// Rows written before the ALTER have no code: reads fall back to status.
	got, _ = f.get(t, 2)
	require.Equal(t, shop.StatusPaid, got.Status)
	_, code, _ := f.columns(t, 2)
	require.False(t, code.Valid)
	// Writes now fill both columns.
	f.create(t, shop.CreateOrder{ID: 3, CustomerID: 3, Status: shop.StatusShipped, AmountCents: 300})
	status, code, amount := f.columns(t, 3)
	require.Equal(t, "shipped", status)
	require.Equal(t, sql.NullInt16{Int16: shop.StatusShipped.Code(), Valid: true}, code)
	require.Equal(t, "3.00", amount)
	c, _, _ = f.do(t, http.MethodPut, "/orders/2", shop.UpdateOrder{AmountCents: ptr(int64(250))})
	require.Equal(t, http.StatusOK, c)
	status, code, _ = f.columns(t, 2)
	require.Equal(t, "paid", status)
	require.Equal(t, sql.NullInt16{Int16: shop.StatusPaid.Code(), Valid: true}, code, "an update fills the code of an old row")

	// Reads prefer the new column: a code written by another writer wins over status.
	f.db.Exec(t, "UPDATE orders SET status_code = 5 WHERE id = 3")
	got, _ = f.get(t, 3)
	require.Equal(t, shop.StatusCancelled, got.Status)

	f.phase(t, wire.PhaseCommit)
	require.Equal(t, graybox.ShapeDual, f.svc.Shape(), "dual after commit: the old column stays correct")
	f.create(t, shop.CreateOrder{ID: 4, CustomerID: 4, Status: shop.StatusDelivered, AmountCents: 400})
	_, code, _ = f.columns(t, 4)
	require.Equal(t, shop.StatusDelivered.Code(), code.Int16)
}

// TestOldShapeIgnoresNewColumn: an instance still on v1 (not prepared) neither writes nor reads
// status_code even when it exists.
func TestOldShapeIgnoresNewColumn(t *testing.T) {
	f := newFixture(t, service.Config{})
	f.db.Exec(t, shop.Migration)
	f.create(t, shop.CreateOrder{ID: 1, CustomerID: 1, Status: shop.StatusPaid, AmountCents: 1})
	_, code, _ := f.columns(t, 1)
	require.False(t, code.Valid)
	f.db.Exec(t, "UPDATE orders SET status_code = 5 WHERE id = 1")
	got, shape := f.get(t, 1)
	require.Equal(t, "old", shape)
	require.Equal(t, shop.StatusPaid, got.Status)
}

// TestShedWindowAndReadiness: writes are shed (429 + Retry-After) and /readyz says migrating
// exactly between a ready prepare and its commit or abort; reads and the hook keep working.
func TestShedWindowAndReadiness(t *testing.T) {
	f := newFixture(t, service.Config{ShedWrites: true, RetryAfter: 2 * time.Second, ReportMigrating: true})
	f.create(t, shop.CreateOrder{ID: 1, CustomerID: 1, AmountCents: 1})
	ready := func() int { c, _, _ := f.do(t, http.MethodGet, "/readyz", nil); return c }
	require.Equal(t, http.StatusOK, ready())

	for _, end := range []wire.Phase{wire.PhaseAbort, wire.PhaseCommit} {
		before, _ := f.get(t, 1)
		f.phase(t, wire.PhasePrepare)
		require.True(t, f.p.Migrating())
		c, body, h := f.do(t, http.MethodPost, "/orders", shop.CreateOrder{ID: 2, CustomerID: 1})
		require.Equal(t, http.StatusTooManyRequests, c, string(body))
		require.Equal(t, "2", h.Get("Retry-After"))
		c, _, _ = f.do(t, http.MethodPut, "/orders/1", shop.UpdateOrder{AmountCents: ptr(int64(5))})
		require.Equal(t, http.StatusTooManyRequests, c)
		c, _, _ = f.do(t, http.MethodDelete, "/orders/1", nil)
		require.Equal(t, http.StatusTooManyRequests, c)
		got, _ := f.get(t, 1)
		require.Equal(t, before, got, "reads work, the shed update did nothing")
		c, body, _ = f.do(t, http.MethodGet, "/readyz", nil)
		require.Equal(t, http.StatusServiceUnavailable, c)
		require.Contains(t, string(body), graybox.StatusMigrating)

		f.phase(t, end)
		require.False(t, f.p.Migrating())
		require.Equal(t, http.StatusOK, ready())
		c, _, _ = f.do(t, http.MethodPut, "/orders/1", shop.UpdateOrder{AmountCents: ptr(int64(7))})
		require.Equal(t, http.StatusOK, c, "writes resume after %s", end)
	}
}

// TestHookNotShed: the hook is a POST but is never shed, so the commit that ends the shedding
// arrives. A signed commit over the real hook route ends the window.
func TestHookNotShed(t *testing.T) {
	f := newFixture(t, service.Config{ShedWrites: true})
	f.phase(t, wire.PhasePrepare)
	body, err := json.Marshal(ctltest.Request("m1", f.db.Name, shop.Table, wire.PhaseCommit, shop.OldVersion, shop.NewVersion))
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+wire.HookPath, bytes.NewReader(body))
	require.NoError(t, err)
	wire.Sign(req, body, secret, time.Now())
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(out))
	var ack wire.Ack
	require.NoError(t, json.Unmarshal(out, &ack))
	require.True(t, ack.Ready, ack.Message)
	require.False(t, f.p.Migrating())
	require.Equal(t, shop.NewVersion, f.p.Version(f.svc.QualifiedTable()))

	// An unsigned hook request is refused and changes nothing.
	req, err = http.NewRequest(http.MethodPost, f.srv.URL+wire.HookPath, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err = f.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestPrepareNotReadyWithoutDatabase(t *testing.T) {
	db := sandboxtest.New(t)
	pool, err := sql.Open("mysql", db.Env.Primary.DSN(db.Name))
	require.NoError(t, err)
	require.NoError(t, pool.Close())
	h := service.PhaseHandlers(pool)
	require.Error(t, h.Prepare(context.Background(), wire.PhaseRequest{}))
	require.NoError(t, service.PhaseHandlers(db.Primary).Prepare(context.Background(), wire.PhaseRequest{}))
}

func TestConfigValidate(t *testing.T) {
	require.ErrorIs(t, service.Config{}.Validate(), service.ErrConfig)
	require.ErrorIs(t, service.Config{Schema: "s", RetryAfter: -1}.Validate(), service.ErrConfig)
	require.NoError(t, service.Config{Schema: "s"}.Validate())
}

// TestLatencyInjectionIsRecorded: PUT /admin/latency slows /orders down, the participant's
// recorder sees it (the figures the controller's service-health throttle reads), and "0" ends it.
func TestLatencyInjectionIsRecorded(t *testing.T) {
	f := newFixture(t, service.Config{Admin: true})
	o := f.create(t, shop.CreateOrder{CustomerID: 1, AmountCents: 100})
	put := func(body string) int {
		req, err := http.NewRequest(http.MethodPut, f.srv.URL+"/admin/latency", strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusBadRequest, put("soon"))
	require.Equal(t, http.StatusBadRequest, put("2h"))
	require.Equal(t, http.StatusOK, put("150ms"))
	for range 5 {
		f.get(t, o.ID)
	}
	h := f.p.Recorder(f.svc.QualifiedTable()).Snapshot()
	require.EqualValues(t, 6, h.Requests, "the create and five reads")
	require.True(t, h.P99() >= 150*time.Millisecond, "p99 %v with 150ms injected", h.P99())
	require.Equal(t, http.StatusOK, put("0"))
	start := time.Now()
	f.get(t, o.ID)
	require.Less(t, time.Since(start), 150*time.Millisecond, "the injection ended")
	code, _, _ := f.do(t, http.MethodGet, "/orders/999999", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Zero(t, f.p.Recorder(f.svc.QualifiedTable()).Snapshot().Errors, "a 404 is no error of the service")
}
