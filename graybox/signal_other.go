//go:build !unix

package graybox

import (
	"errors"
	"os"
)

// osSignal: signal mode needs SIGUSR1/SIGUSR2, which only unix systems have.
func osSignal(string) (os.Signal, error) {
	return nil, errors.New("graybox: signal mode needs a unix system; use http mode")
}
