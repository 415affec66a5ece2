package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/examples/shop"
)

// maxBody bounds request bodies; an order is a few dozen bytes.
const maxBody = 64 << 10

// ShapeHeader names the header that says which shape a response was read or written in.
const ShapeHeader = "X-Schema-Shape"

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}

// errNotFound answers 404.
var errNotFound = errors.New("order not found")

// fail maps an error to its status: 400 for invalid input, 404, 409 for a taken id, else 500.
func fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, shop.ErrInvalid):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, errNotFound), errors.Is(err, sql.ErrNoRows):
		writeError(w, http.StatusNotFound, errNotFound)
	case isDuplicateKey(err):
		writeError(w, http.StatusConflict, errors.New("an order with this id exists"))
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}

// isDuplicateKey matches ER_DUP_ENTRY (1062) by its text, as graybox matches 1054: the
// handlers stay independent of the driver's error type.
func isDuplicateKey(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Error 1062") || strings.Contains(s, "Duplicate entry")
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: id %q is not a positive integer", shop.ErrInvalid, r.PathValue("id"))
	}
	return id, nil
}

func decode(r *http.Request, into any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("%w: body: %w", shop.ErrInvalid, err)
	}
	return nil
}

func (s *Service) setShape(w http.ResponseWriter) {
	w.Header().Set(ShapeHeader, s.orders.Shape().String())
}

func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		fail(w, err)
		return
	}
	s.setShape(w)
	o, err := s.orders.Get(r.Context(), s.db, id)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o.JSON())
}

func (s *Service) createOrder(w http.ResponseWriter, r *http.Request) {
	var in shop.CreateOrder
	if err := decode(r, &in); err != nil {
		fail(w, err)
		return
	}
	if err := in.Validate(); err != nil {
		fail(w, err)
		return
	}
	if in.Status == "" {
		in.Status = shop.StatusNew
	}
	o := shop.Order{ID: in.ID, CustomerID: in.CustomerID, Amount: shop.Cents(in.AmountCents), UpdatedAt: now()}
	o.SetStatus(in.Status)
	s.setShape(w)
	if err := s.insert(r.Context(), &o); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, o.JSON())
}

// insert writes o; with ID 0 the table picks the id, read back with LAST_INSERT_ID() on the
// same connection (graybox's Insert returns no sql.Result).
func (s *Service) insert(ctx context.Context, o *shop.Order) error {
	if o.ID != 0 {
		return s.orders.Insert(ctx, s.db, o)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("shopsvc: %w", err)
	}
	defer conn.Close()
	if err := s.orders.Insert(ctx, conn, o); err != nil {
		return err
	}
	if err := conn.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&o.ID); err != nil {
		return fmt.Errorf("shopsvc: read the new id: %w", err)
	}
	return nil
}

func (s *Service) updateOrder(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		fail(w, err)
		return
	}
	var in shop.UpdateOrder
	if err := decode(r, &in); err != nil {
		fail(w, err)
		return
	}
	if err := in.Validate(); err != nil {
		fail(w, err)
		return
	}
	s.setShape(w)
	o, err := s.update(r.Context(), id, in)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o.JSON())
}

// update is a read-modify-write in one transaction. The row is locked first (SELECT … FOR
// UPDATE) so that the following plain read, whose InnoDB read view starts there, sees the latest
// committed row and no concurrent update is lost in between.
func (s *Service) update(ctx context.Context, id int64, in shop.UpdateOrder) (shop.Order, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return shop.Order{}, fmt.Errorf("shopsvc: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	var locked int64
	q := "SELECT `id` FROM " + s.quotedTable() + " WHERE `id` = ? FOR UPDATE"
	if err := tx.QueryRowContext(ctx, q, id).Scan(&locked); err != nil {
		return shop.Order{}, fmt.Errorf("shopsvc: lock order %d: %w", id, err)
	}
	o, err := s.orders.Get(ctx, tx, id)
	if err != nil {
		return shop.Order{}, err
	}
	// The current status in either shape, re-set so that a dual write fills both columns.
	o.SetStatus(o.CurrentStatus())
	if in.Status != nil {
		o.SetStatus(*in.Status)
	}
	if in.AmountCents != nil {
		o.Amount = shop.Cents(*in.AmountCents)
	}
	o.UpdatedAt = now()
	if err := s.orders.Update(ctx, tx, &o); err != nil {
		return shop.Order{}, err
	}
	if err := tx.Commit(); err != nil {
		return shop.Order{}, fmt.Errorf("shopsvc: commit: %w", err)
	}
	return o, nil
}

func (s *Service) deleteOrder(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		fail(w, err)
		return
	}
	s.setShape(w)
	res, err := s.db.ExecContext(r.Context(), "DELETE FROM "+s.quotedTable()+" WHERE `id` = ?", id)
	if err != nil {
		fail(w, fmt.Errorf("shopsvc: delete order %d: %w", id, err))
		return
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		fail(w, errNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) quotedTable() string { return quote(s.cfg.Schema) + "." + quote(s.cfg.table()) }

func quote(ident string) string { return "`" + strings.ReplaceAll(ident, "`", "``") + "`" }

// now is the time written to updated_at: microseconds, as DATETIME(6) stores them, so that the
// response shows what a later read returns.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
