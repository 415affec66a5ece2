package loadgen

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Int makes integers in [lo, hi].
func Int(lo, hi int64) Gen {
	return func(r *rand.Rand) any {
		// Edges are where signed/unsigned and width bugs hide: draw them often.
		switch r.IntN(10) {
		case 0:
			return lo
		case 1:
			return hi
		}
		span := uint64(hi - lo) // wraps to the right unsigned width even for the full int64 range
		if span == math.MaxUint64 {
			return int64(r.Uint64())
		}
		return lo + int64(r.Uint64N(span+1))
	}
}

// Uint makes unsigned integers in [0, hi], hi up to 2^64-1.
func Uint(hi uint64) Gen {
	return func(r *rand.Rand) any {
		switch r.IntN(10) {
		case 0:
			return uint64(0)
		case 1:
			return hi
		}
		if hi == math.MaxUint64 {
			return r.Uint64()
		}
		return r.Uint64N(hi + 1)
	}
}

// Decimal makes DECIMAL(precision, scale) values as strings (exact, no float on the way).
func Decimal(precision, scale int) Gen {
	return func(r *rand.Rand) any {
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		b.WriteString(digits(r, 1+r.IntN(precision-scale), true))
		if scale > 0 {
			b.WriteByte('.')
			b.WriteString(digits(r, scale, false))
		}
		return b.String()
	}
}

// digits makes n random decimal digits; lead makes the first one non-zero when n > 1, so an
// integer part has exactly n digits.
func digits(r *rand.Rand, n int, lead bool) string {
	d := make([]byte, n)
	for i := range d {
		d[i] = byte('0' + r.IntN(10))
	}
	if lead && n > 1 {
		d[0] = byte('1' + r.IntN(9))
	}
	return string(d)
}

// Float makes FLOAT (single precision) values over a wide range of magnitudes.
func Float() Gen {
	return func(r *rand.Rand) any {
		return float64(float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(20)-10))))
	}
}

// Double makes DOUBLE values over a wide range of magnitudes.
func Double() Gen {
	return func(r *rand.Rand) any {
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(600)-300))
	}
}

// Date makes DATE values between 1000-01-01 and 9999-12-28.
func Date() Gen {
	return func(r *rand.Rand) any {
		return fmt.Sprintf("%04d-%02d-%02d", 1000+r.IntN(9000), 1+r.IntN(12), 1+r.IntN(28))
	}
}

// DateTime makes DATETIME(6) values with microseconds.
func DateTime() Gen {
	return func(r *rand.Rand) any {
		return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", 1000+r.IntN(9000), 1+r.IntN(12),
			1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1_000_000))
	}
}

// Timestamp makes TIMESTAMP(6) values well inside the type's range (1970–2038 UTC) so that no
// session time zone pushes them out.
func Timestamp() Gen {
	return func(r *rand.Rand) any {
		return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", 1971+r.IntN(66), 1+r.IntN(12),
			1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1_000_000))
	}
}

// Time makes TIME(6) values, negative ones and hours above 24 included.
func Time() Gen {
	return func(r *rand.Rand) any {
		sign := ""
		if r.IntN(4) == 0 {
			sign = "-"
		}
		return fmt.Sprintf("%s%d:%02d:%02d.%06d", sign, r.IntN(839), r.IntN(60), r.IntN(60), r.IntN(1_000_000))
	}
}

// Year makes YEAR values.
func Year() Gen {
	return func(r *rand.Rand) any { return int64(1901 + r.IntN(255)) }
}

// Character pools for String. UTF8MB4 has 4-byte characters (emoji, a skin-tone modifier) and the
// characters that break naive quoting; Latin1 has only characters latin1 can store.
const (
	ASCII   = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,"
	UTF8MB4 = "aZ09 éüßñ中文日本語한국어😀🚀🎉👍🏽𝄞\"'\\%_\t\n"
	Latin1  = "aZ09 éüßñÆøÿ¡¿£©±µ¶ÀÉÎÕÜ\"'\\%_"
)

// String makes strings of 0..maxLen characters drawn from pool.
func String(pool string, maxLen int) Gen {
	runes := []rune(pool)
	return func(r *rand.Rand) any {
		s := make([]rune, r.IntN(maxLen+1))
		for i := range s {
			s[i] = runes[r.IntN(len(runes))]
		}
		return string(s)
	}
}

// Bytes makes byte strings of minLen..maxLen arbitrary bytes (zero bytes included).
func Bytes(minLen, maxLen int) Gen {
	return func(r *rand.Rand) any {
		b := make([]byte, minLen+r.IntN(maxLen-minLen+1))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	}
}

// JSON makes small JSON documents with nested values and non-ASCII text.
func JSON() Gen {
	text := String(UTF8MB4, 12)
	return func(r *rand.Rand) any {
		doc := map[string]any{
			"n": r.Int64N(1 << 40),
			"s": text(r),
			"f": float64(r.IntN(1000)) / 8,
			"b": r.IntN(2) == 0,
			"a": []any{r.IntN(100), text(r), nil},
		}
		out, _ := json.Marshal(doc) // a map of plain values always marshals
		return string(out)
	}
}

// OneOf makes one of values (ENUM).
func OneOf(values ...string) Gen {
	return func(r *rand.Rand) any { return values[r.IntN(len(values))] }
}

// SetOf makes a comma-separated subset of values (SET), possibly empty.
func SetOf(values ...string) Gen {
	return func(r *rand.Rand) any {
		var picked []string
		for _, v := range values {
			if r.IntN(2) == 0 {
				picked = append(picked, v)
			}
		}
		return strings.Join(picked, ",")
	}
}

// Bits makes BIT(n) values (n ≤ 63).
func Bits(n int) Gen {
	return func(r *rand.Rand) any { return int64(r.Uint64N(1 << n)) }
}

// Nullable makes NULL one time in eight and a value of g otherwise.
func Nullable(g Gen) Gen {
	return func(r *rand.Rand) any {
		if r.IntN(8) == 0 {
			return nil
		}
		return g(r)
	}
}
