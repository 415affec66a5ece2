package loadgen

import (
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMaxStall(t *testing.T) {
	s := func(endMs int, err bool) sample {
		return sample{end: time.Duration(endMs) * time.Millisecond, err: err}
	}
	tests := []struct {
		name    string
		samples []sample
		elapsed time.Duration
		want    time.Duration
		end     time.Duration
	}{
		{"nothing succeeded", nil, time.Second, time.Second, time.Second},
		{"gap in the middle", []sample{s(10, false), s(20, false), s(520, false), s(530, false)}, 600 * time.Millisecond, 500 * time.Millisecond, 520 * time.Millisecond},
		{"errors do not end a stall", []sample{s(10, false), s(300, true), s(700, false)}, 710 * time.Millisecond, 690 * time.Millisecond, 700 * time.Millisecond},
		{"tail counts", []sample{s(10, false)}, 900 * time.Millisecond, 890 * time.Millisecond, 900 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stall, end := maxStall(tt.samples, tt.elapsed)
			require.Equal(t, tt.want, stall)
			require.Equal(t, tt.end, end)
		})
	}
}

func TestEncodeKeyIsUnambiguous(t *testing.T) {
	require.NotEqual(t, encodeKey([]string{"a", "bc"}), encodeKey([]string{"ab", "c"}))
	require.NotEqual(t, encodeKey([]string{"1:", "2"}), encodeKey([]string{"1", ":2"}))
	require.Equal(t, encodeKey([]string{"x", "y"}), encodeKey([]string{"x", "y"}))
}

func TestKeyLessNumeric(t *testing.T) {
	require.True(t, keyLess([]string{"9"}, []string{"10"}))
	require.False(t, keyLess([]string{"10"}, []string{"9"}))
	require.True(t, keyLess([]string{"1", "b"}, []string{"1", "c"}))
	require.False(t, keyLess([]string{"1"}, []string{"1"}))
}

func TestConfigValidate(t *testing.T) {
	good := Config{Spec: Simple("t"), Workers: 2, Mix: Mix{Insert: 1}}
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"good", func(*Config) {}, true},
		{"no workers", func(c *Config) { c.Workers = 0 }, false},
		{"empty mix", func(c *Config) { c.Mix = Mix{} }, false},
		{"negative weight", func(c *Config) { c.Mix.Delete = -1 }, false},
		{"negative rate", func(c *Config) { c.Rate = -1 }, false},
		{"untracked reads need a key range", func(c *Config) { c.Untracked, c.Mix.Read = true, 1 }, false},
		{"untracked with key range", func(c *Config) { c.Untracked, c.Mix.Read, c.KeyRange = true, 1, 10 }, true},
		{"no table", func(c *Config) { c.Spec.Table = "" }, false},
		{"no key", func(c *Config) { c.Spec.Key = nil }, false},
		{"duplicate column", func(c *Config) { c.Spec.Columns = append(c.Spec.Columns, c.Spec.Columns[0]) }, false},
		{"column without generator", func(c *Config) { c.Spec.Columns = []Column{{Name: "x", Type: "INT"}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.Spec.Columns = append([]Column(nil), good.Spec.Columns...)
			tt.mutate(&c)
			err := c.Validate()
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.True(t, errors.Is(err, ErrInvalidSpec), "got %v", err)
			}
		})
	}
}

func TestCreateSQLQuotesIdentifiers(t *testing.T) {
	spec := Spec{
		Table:   "we`ird",
		Key:     []KeyColumn{{Name: "i`d", Type: "INT NOT NULL", Of: func(n int64) any { return n }}},
		Columns: []Column{{Name: "c", Type: "INT", Gen: Int(0, 1)}},
	}
	require.Equal(t, "CREATE TABLE `we``ird` (`i``d` INT NOT NULL, `c` INT, PRIMARY KEY (`i``d`))", spec.CreateSQL())
}

func TestDiffString(t *testing.T) {
	ns := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	d := Diff{
		Table: "t", Names: []string{"id", "c"}, NKey: 1, Checked: 2,
		Missing: []Row{{Vals: []sql.NullString{ns("5"), ns("five")}}},
		Extra:   []Row{{Vals: []sql.NullString{ns("9"), {}}}},
		Wrong:   []RowDiff{{Key: []string{"7"}, Columns: []ColumnDiff{{Column: "c", Want: ns("a"), Got: ns("b")}}}},
	}
	want := `table t: 2 rows read, 1 missing, 1 extra, 1 wrong
  missing (id=5): want {c="five"}
  extra (id=9): got {c=NULL}
  wrong (id=7): c want "a" got "b";`
	require.Equal(t, want, d.String())
	require.False(t, d.Empty())
	require.True(t, Diff{Table: "t"}.Empty())
}

func TestGeneratorsStayInRange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		v := Int(-128, 127)(r).(int64)
		require.True(t, v >= -128 && v <= 127)
		require.Less(t, Uint(255)(r).(uint64), uint64(256))
		require.Less(t, Bits(10)(r).(int64), int64(1024))
		d := Decimal(20, 6)(r).(string)
		intPart, frac, ok := strings.Cut(strings.TrimPrefix(d, "-"), ".")
		require.True(t, ok, d)
		require.LessOrEqual(t, len(intPart), 14, d)
		require.Len(t, frac, 6, d)
		for _, c := range String(Latin1, 30)(r).(string) {
			require.Contains(t, Latin1, string(c))
		}
	}
}
