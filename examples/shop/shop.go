// Package shop is the domain of ghostgate's example service: the `orders` table (Schema), the
// expand/contract change it goes through (Migration), the row type graybox maps onto both
// schema versions (Order), and the JSON of shopsvc's HTTP API (OrderJSON, CreateOrder,
// UpdateOrder).
//
// The change moves `status` (free text) to `status_code` (a SMALLINT): schema version v1 has
// only `status`; v2 adds `status_code`. During the migration shopsvc writes both and reads
// `status_code` when it is set, so every instance keeps working on both sides of the rename.
//
// The service is in package service, its binary in cmd/shopsvc, the load generator that checks
// it loses no rows in package loadclient, and a helper that runs the binary in package shopproc.
package shop

import (
	"database/sql"
	"database/sql/driver"
	_ "embed" // for Schema and Migration
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schema creates the orders table (schema version v1), unqualified: run it in the service's
// database.
//
//go:embed schema.sql
var Schema string

// Migration is the change to schema version v2, as given to ghostgate (`migrate run --file
// examples/shop/migration.sql`). The planner sends it to gh-ost.
//
//go:embed migration.sql
var Migration string

// Table is the table shopsvc serves by default.
const Table = "orders"

// The schema versions of the orders table, as named in Order's tags and in the participant's
// registration and PhaseRequests.
const (
	OldVersion = "v1" // status only
	NewVersion = "v2" // status and status_code
)

// NewColumn is the column the migration adds; its presence means the table is on NewVersion.
const NewColumn = "status_code"

// Status is an order's status.
type Status string

// The statuses and, in Status.Code, their v2 codes.
const (
	StatusNew       Status = "new"
	StatusPaid      Status = "paid"
	StatusShipped   Status = "shipped"
	StatusDelivered Status = "delivered"
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status in code order.
var Statuses = []Status{StatusNew, StatusPaid, StatusShipped, StatusDelivered, StatusCancelled}

// Code is the status's v2 code (1…5); 0 for an unknown status.
func (s Status) Code() int16 {
	for i, x := range Statuses {
		if x == s {
			return int16(i + 1)
		}
	}
	return 0
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s.Code() != 0 }

// StatusOfCode maps a v2 code back to its status; ok is false for an unknown code.
func StatusOfCode(code int16) (s Status, ok bool) {
	if code < 1 || int(code) > len(Statuses) {
		return "", false
	}
	return Statuses[code-1], true
}

// Order is a row of orders as graybox.Table maps it. Status is in both versions; StatusCode
// only in v2 (graybox writes it in the dual shape and leaves it NULL on reads of v1 rows).
type Order struct {
	ID         int64         `gg:"id"`
	CustomerID int64         `gg:"customer_id"`
	Status     Status        `gg:"status"`
	StatusCode sql.NullInt16 `gg:"v2:status_code"`
	Amount     Cents         `gg:"amount"`
	UpdatedAt  time.Time     `gg:"updated_at"`
}

// SetStatus sets both shapes of the status; which of them reach the table is graybox's choice.
func (o *Order) SetStatus(s Status) {
	o.Status = s
	o.StatusCode = sql.NullInt16{Int16: s.Code(), Valid: true}
}

// CurrentStatus reads the new shape when present (a row written in v2) and falls back to the
// old one (a row not written since the migration, or read in the old shape).
func (o Order) CurrentStatus() Status {
	if o.StatusCode.Valid {
		if s, ok := StatusOfCode(o.StatusCode.Int16); ok {
			return s
		}
	}
	return o.Status
}

// JSON is the order as the API shows it.
func (o Order) JSON() OrderJSON {
	return OrderJSON{
		ID: o.ID, CustomerID: o.CustomerID, Status: o.CurrentStatus(),
		AmountCents: int64(o.Amount), UpdatedAt: o.UpdatedAt,
	}
}

// OrderJSON is an order in the API.
type OrderJSON struct {
	ID          int64     `json:"id"`
	CustomerID  int64     `json:"customer_id"`
	Status      Status    `json:"status"`
	AmountCents int64     `json:"amount_cents"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CreateOrder is the body of POST /orders. ID 0 lets the table choose (AUTO_INCREMENT); an
// empty Status is StatusNew.
type CreateOrder struct {
	ID          int64  `json:"id,omitempty"`
	CustomerID  int64  `json:"customer_id"`
	Status      Status `json:"status,omitempty"`
	AmountCents int64  `json:"amount_cents"`
}

// UpdateOrder is the body of PUT /orders/{id}: the fields to change, at least one.
type UpdateOrder struct {
	Status      *Status `json:"status,omitempty"`
	AmountCents *int64  `json:"amount_cents,omitempty"`
}

// MaxCents bounds an amount: DECIMAL(12,2) of schema v1 holds up to 9,999,999,999.99.
const MaxCents = 999_999_999_999

// ErrInvalid is wrapped by the validation errors of the API's bodies.
var ErrInvalid = errors.New("shop: invalid order")

// Validate checks a create request (after defaults).
func (c CreateOrder) Validate() error {
	switch {
	case c.ID < 0:
		return fmt.Errorf("%w: id must not be negative", ErrInvalid)
	case c.CustomerID <= 0:
		return fmt.Errorf("%w: customer_id must be positive", ErrInvalid)
	case c.Status != "" && !c.Status.Valid():
		return fmt.Errorf("%w: unknown status %q", ErrInvalid, c.Status)
	}
	return validCents(c.AmountCents)
}

// Validate checks an update request.
func (u UpdateOrder) Validate() error {
	switch {
	case u.Status == nil && u.AmountCents == nil:
		return fmt.Errorf("%w: nothing to update (status, amount_cents)", ErrInvalid)
	case u.Status != nil && !u.Status.Valid():
		return fmt.Errorf("%w: unknown status %q", ErrInvalid, *u.Status)
	case u.AmountCents != nil:
		return validCents(*u.AmountCents)
	}
	return nil
}

func validCents(c int64) error {
	if c < 0 || c > MaxCents {
		return fmt.Errorf("%w: amount_cents %d is not in [0, %d]", ErrInvalid, c, int64(MaxCents))
	}
	return nil
}

// Cents is an amount of money in cents, stored as DECIMAL(…,2). It travels to and from the
// server as decimal text, so no float ever rounds it.
type Cents int64

// String formats c as decimal text with two fraction digits, e.g. "12.05".
func (c Cents) String() string {
	sign, v := "", int64(c)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Value implements driver.Valuer.
func (c Cents) Value() (driver.Value, error) { return c.String(), nil }

// Scan implements sql.Scanner for DECIMAL text (go-sql-driver returns DECIMAL as []byte) and
// integers.
func (c *Cents) Scan(src any) error {
	switch v := src.(type) {
	case []byte:
		return c.parse(string(v))
	case string:
		return c.parse(v)
	case int64:
		*c = Cents(v * 100)
		return nil
	}
	return fmt.Errorf("shop: cannot scan %T into Cents", src)
}

// ParseCents reads decimal text with at most two fraction digits.
func ParseCents(s string) (Cents, error) {
	var c Cents
	err := c.parse(s)
	return c, err
}

func (c *Cents) parse(s string) error {
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) > 2 {
		return fmt.Errorf("shop: amount %q has more than two fraction digits", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return fmt.Errorf("shop: amount %q: %w", s, err)
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return fmt.Errorf("shop: amount %q: %w", s, err)
	}
	v := w*100 + f
	if neg {
		v = -v
	}
	*c = Cents(v)
	return nil
}
