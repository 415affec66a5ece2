package store

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// crockford is Crockford's base32 alphabet (no I, L, O, U): ids stay unambiguous when read aloud
// or typed from a terminal.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idLen is the length of a migration id: 10 characters of milliseconds, 16 of randomness.
const idLen = 26

// newID returns a ULID-like id: 48 bits of Unix milliseconds then 80 random bits, in base32. Ids
// sort by creation time as strings, which keeps listings and logs in a natural order.
func newID(now time.Time) (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("store: random id: %w", err)
	}
	return encode128(b), nil
}

// encode128 writes 128 bits as 26 base32 digits (the first digit carries the top 3 bits).
func encode128(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	out := make([]byte, idLen)
	for i := idLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out)
}

// validID reports whether id looks like one of ours, so that a mistyped id is refused before it
// reaches SQL (where it is bound anyway).
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z' || c == 'I' || c == 'L' || c == 'O' || c == 'U') {
			return false
		}
	}
	return true
}

// ValidID reports whether s has the form of a migration id (26 characters of Crockford's base32),
// so that a directory or argument named like one can be told from anything else.
func ValidID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return false
		}
	}
	return true
}
