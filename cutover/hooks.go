package cutover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// DefaultHookNetworks are the networks a hook may be reached on when the configuration names
// none: loopback and the private ranges (RFC 1918, IPv6 unique local), where service instances
// live. Link-local addresses (cloud metadata services at 169.254.169.254) and public addresses
// are refused. Issue 10: any hook_url was accepted, which let a registration make the controller
// POST to any address it can reach.
var DefaultHookNetworks = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fc00::/7"),
}

// ErrHookNotAllowed refuses a hook whose address is outside the allowed networks.
var ErrHookNotAllowed = errors.New("cutover: hook address not allowed")

// hookPolicy decides which addresses hooks may be reached on.
type hookPolicy struct{ nets []netip.Prefix }

func (p hookPolicy) allows(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

func (p hookPolicy) String() string {
	s := make([]string, len(p.nets))
	for i, n := range p.nets {
		s[i] = n.String()
	}
	return strings.Join(s, ", ")
}

// checkURL refuses, at registration, a hook URL whose host is an address outside the networks.
// A host name is checked when it is dialled (it may resolve differently later).
func (p hookPolicy) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrHookNotAllowed, raw)
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !p.allows(a) {
		return fmt.Errorf("%w: %s is outside the hook networks (%s)", ErrHookNotAllowed, a, p)
	}
	return nil
}

// control runs before every hook connection, on the address actually dialled (after name
// resolution), so that a name that resolves elsewhere later is refused too.
func (p hookPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !p.allows(ap.Addr()) {
		return fmt.Errorf("%w: %s is outside the hook networks (%s)", ErrHookNotAllowed, address, p)
	}
	return nil
}

// hookClient is the client hooks are called with: dials only into the allowed networks and
// never follows a redirect (a 3xx is a failed delivery; the signed request is never re-posted
// elsewhere).
func (p hookPolicy) hookClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a proxy would dial on our behalf, past the check
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	tr.DialContext = d.DialContext
	return &http.Client{Transport: tr, CheckRedirect: noRedirect}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// hookError says why a hook call failed without echoing what the other end sent: the raw bytes
// of whatever answered (a database's greeting, another service's body) must not reach the API.
func hookError(err error) string {
	var op *net.OpError
	var errno syscall.Errno
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name
	case errors.Is(err, ErrHookNotAllowed):
		return ErrHookNotAllowed.Error() + " (see the hook networks of the controller)"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer before the deadline"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &op) && op.Op == "dial" && errors.As(err, &errno):
		return "cannot connect: " + errno.Error()
	case errors.As(err, &op) && op.Op == "dial":
		return "cannot connect"
	}
	return "no valid HTTP answer"
}
