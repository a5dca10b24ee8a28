// Package netguard keeps the gateway's upstream connections off addresses
// that a provider base URL has no business reaching: loopback, private,
// link-local, cloud metadata and other special ranges. The check runs at
// connect time, on the address actually dialled, so a DNS name that
// resolves to a private address (or changes to one later) is refused too.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrBlocked is returned (wrapped) when a dial targets a refused address.
var ErrBlocked = errors.New("netguard: address not allowed")

// blocked lists the ranges refused unless private networks are allowed.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",          // "this" network; 0.0.0.0 reaches localhost
		"10.0.0.0/8",         // private
		"100.64.0.0/10",      // carrier-grade NAT
		"127.0.0.0/8",        // loopback
		"169.254.0.0/16",     // link-local, including 169.254.169.254 metadata
		"172.16.0.0/12",      // private
		"192.0.0.0/24",       // IETF protocol assignments
		"192.168.0.0/16",     // private
		"198.18.0.0/15",      // benchmarking
		"224.0.0.0/4",        // multicast
		"240.0.0.0/4",        // reserved, broadcast
		"::/128",             // unspecified
		"::1/128",            // loopback
		"fc00::/7",           // unique local, including fd00:ec2::254 metadata
		"fe80::/10",          // link-local
		"ff00::/8",           // multicast
		"64:ff9b::/96",       // NAT64, can embed any IPv4 address
		"2001:db8::/32",      // documentation
		"::ffff:0:0/96",      // IPv4-mapped: checked after unmapping, kept for safety
		"100::/64",           // discard
		"2002::/16",          // 6to4, can embed private IPv4
		"fec0::/10",          // deprecated site-local
		"198.51.100.0/24",    // documentation
		"203.0.113.0/24",     // documentation
		"192.0.2.0/24",       // documentation
		"255.255.255.255/32", // broadcast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Allowed reports whether addr may be dialled when private networks are not
// allowed. An IPv6 zone is ignored: netip.Prefix.Contains never matches a
// zoned address, and [::1%lo] reaches loopback all the same.
func Allowed(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// Dialer returns a dialer that refuses blocked addresses unless
// allowPrivate is set. connectTimeout bounds each connection attempt.
func Dialer(allowPrivate bool, connectTimeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.ControlContext = control
	}
	return d
}

func control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrBlocked, address)
	}
	if !Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s is a loopback, private, link-local or metadata address; set allow_private_network: true on the provider if this is intended", ErrBlocked, ap.Addr())
	}
	return nil
}
