package grayboxdb_test

import (
	"testing"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

var secret = []byte("graybox-test-secret-0123456789")

func TestMain(m *testing.M) { sandboxtest.Main(m) }
