package errtext

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestText(t *testing.T) {
	base := errors.New("runner: gh-ost: context canceled")
	cases := map[string]struct {
		err  error
		want string
	}{
		"doubled and prefixed": {fmt.Errorf("cancelled: %w", fmt.Errorf("cancelled: %w", base)), "cancelled: gh-ost: context canceled"},
		"store":                {errors.New(`store: migration not found: "X"`), `migration not found: "X"`},
		"nested":               {errors.New("server: migration is not running in this controller: runner: chunk size applies to a running gh-ost migration only"), "migration is not running in this controller: chunk size applies to a running gh-ost migration only"},
		"keeps times and urls": {errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), "dial tcp 127.0.0.1:1: connect: connection refused"},
		"a word inside":        {errors.New("the store: is full"), "the store: is full"},
		"only a prefix":        {errors.New("store"), "store"},
		"nil":                  {nil, ""},
	}
	for name, c := range cases {
		assert.Equal(t, c.want, Text(c.err), name)
	}
}
