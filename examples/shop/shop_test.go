package shop

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCents(t *testing.T) {
	for _, tc := range []struct {
		text  string
		cents Cents
		back  string
	}{
		{"0.00", 0, "0.00"},
		{"12.05", 1205, "12.05"},
		{"12.5", 1250, "12.50"},
		{"7", 700, "7.00"},
		{"-3.01", -301, "-3.01"},
		{"9999999999.99", MaxCents, "9999999999.99"},
	} {
		c, err := ParseCents(tc.text)
		require.NoError(t, err, tc.text)
		require.Equal(t, tc.cents, c, tc.text)
		require.Equal(t, tc.back, c.String())
		var s Cents
		require.NoError(t, s.Scan([]byte(tc.text)))
		require.Equal(t, tc.cents, s)
	}
	for _, bad := range []string{"1.234", "abc", "1.x", ""} {
		_, err := ParseCents(bad)
		require.Error(t, err, bad)
	}
	var c Cents
	require.Error(t, c.Scan(1.5))
}

func TestStatusCodes(t *testing.T) {
	for i, s := range Statuses {
		require.Equal(t, int16(i+1), s.Code())
		back, ok := StatusOfCode(s.Code())
		require.True(t, ok)
		require.Equal(t, s, back)
	}
	require.False(t, Status("lost").Valid())
	_, ok := StatusOfCode(0)
	require.False(t, ok)
	_, ok = StatusOfCode(int16(len(Statuses) + 1))
	require.False(t, ok)
}

func TestCurrentStatusPrefersNewShape(t *testing.T) {
	o := Order{Status: StatusNew}
	require.Equal(t, StatusNew, o.CurrentStatus(), "no code: the old column")
	o.StatusCode.Int16, o.StatusCode.Valid = StatusShipped.Code(), true
	require.Equal(t, StatusShipped, o.CurrentStatus(), "a code: the new column wins")
	o.SetStatus(StatusPaid)
	require.Equal(t, StatusPaid, o.Status)
	require.Equal(t, StatusPaid.Code(), o.StatusCode.Int16)
}

func TestValidate(t *testing.T) {
	bad := Status("lost")
	neg := int64(-1)
	for name, err := range map[string]error{
		"create ok":       CreateOrder{CustomerID: 1, AmountCents: 5}.Validate(),
		"update ok":       UpdateOrder{Status: &Statuses[1]}.Validate(),
		"no customer":     CreateOrder{AmountCents: 5}.Validate(),
		"negative id":     CreateOrder{ID: -1, CustomerID: 1}.Validate(),
		"unknown status":  CreateOrder{CustomerID: 1, Status: bad}.Validate(),
		"too much":        CreateOrder{CustomerID: 1, AmountCents: MaxCents + 1}.Validate(),
		"empty update":    UpdateOrder{}.Validate(),
		"bad update":      UpdateOrder{Status: &bad}.Validate(),
		"negative amount": UpdateOrder{AmountCents: &neg}.Validate(),
	} {
		if name == "create ok" || name == "update ok" {
			require.NoError(t, err, name)
			continue
		}
		require.ErrorIs(t, err, ErrInvalid, name)
	}
}

func TestEmbeddedSQL(t *testing.T) {
	require.Contains(t, Schema, "CREATE TABLE orders")
	require.Contains(t, Migration, "ADD COLUMN status_code SMALLINT NULL")
	require.Contains(t, Migration, "MODIFY amount DECIMAL(14,2) NOT NULL")
}
