package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// utcTime scans a DATETIME(6) column whether or not the DSN has parseTime=true, and reads it as
// UTC: the store always writes UTC_TIMESTAMP(6), but a DSN with loc=Local would otherwise shift it.
type utcTime struct {
	Time  time.Time
	Valid bool
}

const datetimeLayout = "2006-01-02 15:04:05.999999"

// Scan implements sql.Scanner.
func (u *utcTime) Scan(v any) error {
	switch t := v.(type) {
	case nil:
		*u = utcTime{}
	case time.Time:
		*u = utcTime{Valid: true, Time: time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(),
			t.Second(), t.Nanosecond(), time.UTC)}
	case []byte:
		return u.parse(string(t))
	case string:
		return u.parse(t)
	default:
		return fmt.Errorf("store: cannot scan %T into a time", v)
	}
	return nil
}

func (u *utcTime) parse(s string) error {
	t, err := time.ParseInLocation(datetimeLayout, s, time.UTC)
	if err != nil {
		return fmt.Errorf("store: parse time %q: %w", s, err)
	}
	*u = utcTime{Time: t, Valid: true}
	return nil
}

// isDuplicateKey reports a MySQL/MariaDB ER_DUP_ENTRY (1062).
func isDuplicateKey(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// nullString maps "" to NULL so that empty optional text is stored as absent.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
