// Package require is the small set of test assertions graybox's tests use, with the names and
// argument order of testify's require (which they used before graybox became a module of its
// own): graybox's go.mod lists no dependency, and test-only ones would still show in every
// importer's `go list -m all`. Each assertion stops the test (t.FailNow) when it fails.
package require

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func fail(t testing.TB, what string, msgAndArgs []any) {
	t.Helper()
	if len(msgAndArgs) > 0 {
		if f, ok := msgAndArgs[0].(string); ok {
			what += ": " + fmt.Sprintf(f, msgAndArgs[1:]...)
		} else {
			what += ": " + fmt.Sprint(msgAndArgs...)
		}
	}
	t.Fatal(what)
}

func equal(a, b any) bool {
	if ab, ok := a.([]byte); ok {
		if bb, ok := b.([]byte); ok {
			return bytes.Equal(ab, bb)
		}
	}
	return reflect.DeepEqual(a, b)
}

// Equal: want and got are deeply equal.
func Equal(t testing.TB, want, got any, msgAndArgs ...any) {
	t.Helper()
	if !equal(want, got) {
		fail(t, fmt.Sprintf("not equal:\nwant %#v\n got %#v", want, got), msgAndArgs)
	}
}

// NotEqual: a and b differ.
func NotEqual(t testing.TB, a, b any, msgAndArgs ...any) {
	t.Helper()
	if equal(a, b) {
		fail(t, fmt.Sprintf("both are %#v", a), msgAndArgs)
	}
}

// EqualValues: equal once got is converted to want's type.
func EqualValues(t testing.TB, want, got any, msgAndArgs ...any) {
	t.Helper()
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	if gv.IsValid() && wv.IsValid() && gv.Type().ConvertibleTo(wv.Type()) && equal(want, gv.Convert(wv.Type()).Interface()) {
		return
	}
	Equal(t, want, got, msgAndArgs...)
}

// True: b holds.
func True(t testing.TB, b bool, msgAndArgs ...any) {
	t.Helper()
	if !b {
		fail(t, "want true", msgAndArgs)
	}
}

// False: b does not hold.
func False(t testing.TB, b bool, msgAndArgs ...any) {
	t.Helper()
	if b {
		fail(t, "want false", msgAndArgs)
	}
}

// Zero: v is its type's zero value.
func Zero(t testing.TB, v any, msgAndArgs ...any) {
	t.Helper()
	if v != nil && !reflect.ValueOf(v).IsZero() {
		fail(t, fmt.Sprintf("want zero, got %#v", v), msgAndArgs)
	}
}

// Len: v (string, slice, map, chan) has n elements.
func Len(t testing.TB, v any, n int, msgAndArgs ...any) {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		fail(t, fmt.Sprintf("want length %d, got %d: %#v", n, l, v), msgAndArgs)
	}
}

// Contains: s (a string) contains sub, or s (a slice) has an element equal to sub.
func Contains(t testing.TB, s, sub any, msgAndArgs ...any) {
	t.Helper()
	if str, ok := s.(string); ok {
		if !strings.Contains(str, fmt.Sprint(sub)) {
			fail(t, fmt.Sprintf("%q does not contain %q", str, sub), msgAndArgs)
		}
		return
	}
	v := reflect.ValueOf(s)
	for i := 0; v.Kind() == reflect.Slice && i < v.Len(); i++ {
		if equal(v.Index(i).Interface(), sub) {
			return
		}
	}
	fail(t, fmt.Sprintf("%#v does not contain %#v", s, sub), msgAndArgs)
}

// NoError: err is nil.
func NoError(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	if err != nil {
		fail(t, "unexpected error: "+err.Error(), msgAndArgs)
	}
}

// Error: err is not nil.
func Error(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	if err == nil {
		fail(t, "want an error, got nil", msgAndArgs)
	}
}

// ErrorIs: errors.Is(err, target).
func ErrorIs(t testing.TB, err, target error, msgAndArgs ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		fail(t, fmt.Sprintf("error %v is not %v", err, target), msgAndArgs)
	}
}

// ErrorAs: errors.As(err, target).
func ErrorAs(t testing.TB, err error, target any, msgAndArgs ...any) {
	t.Helper()
	if !errors.As(err, target) {
		fail(t, fmt.Sprintf("error %v is not a %T", err, target), msgAndArgs)
	}
}

// ErrorContains: err is not nil and its text contains sub.
func ErrorContains(t testing.TB, err error, sub string, msgAndArgs ...any) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), sub) {
		fail(t, fmt.Sprintf("error %v does not contain %q", err, sub), msgAndArgs)
	}
}

// Greater: a > b.
func Greater[T cmp.Ordered](t testing.TB, a, b T, msgAndArgs ...any) {
	t.Helper()
	if !(a > b) {
		fail(t, fmt.Sprintf("%v is not greater than %v", a, b), msgAndArgs)
	}
}

// GreaterOrEqual: a >= b.
func GreaterOrEqual[T cmp.Ordered](t testing.TB, a, b T, msgAndArgs ...any) {
	t.Helper()
	if !(a >= b) {
		fail(t, fmt.Sprintf("%v is not greater than or equal to %v", a, b), msgAndArgs)
	}
}

// Less: a < b.
func Less[T cmp.Ordered](t testing.TB, a, b T, msgAndArgs ...any) {
	t.Helper()
	if !(a < b) {
		fail(t, fmt.Sprintf("%v is not less than %v", a, b), msgAndArgs)
	}
}

// InDelta: |want - got| <= delta.
func InDelta(t testing.TB, want, got, delta float64, msgAndArgs ...any) {
	t.Helper()
	if math.Abs(want-got) > delta {
		fail(t, fmt.Sprintf("%v and %v differ by more than %v", want, got, delta), msgAndArgs)
	}
}

// WithinDuration: want and got are at most d apart.
func WithinDuration(t testing.TB, want, got time.Time, d time.Duration, msgAndArgs ...any) {
	t.Helper()
	if diff := want.Sub(got); diff > d || diff < -d {
		fail(t, fmt.Sprintf("%v and %v are %v apart, more than %v", want, got, diff, d), msgAndArgs)
	}
}

// JSONEq: want and got are the same JSON value.
func JSONEq(t testing.TB, want, got string, msgAndArgs ...any) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		fail(t, "want is not JSON: "+err.Error(), msgAndArgs)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		fail(t, fmt.Sprintf("got is not JSON (%v): %s", err, got), msgAndArgs)
	}
	if !reflect.DeepEqual(w, g) {
		fail(t, fmt.Sprintf("JSON differs:\nwant %s\n got %s", want, got), msgAndArgs)
	}
}

// Eventually: cond holds within waitFor, polled every tick.
func Eventually(t testing.TB, cond func() bool, waitFor, tick time.Duration, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			fail(t, fmt.Sprintf("condition not met within %v", waitFor), msgAndArgs)
		}
		time.Sleep(tick)
	}
}
