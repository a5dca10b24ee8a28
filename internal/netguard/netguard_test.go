package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAllowedRefusesBlockedRanges(t *testing.T) {
	tests := []struct {
		name string
		addr string
	}{
		{"this_network", "0.1.2.3"},
		{"unspecified_v4", "0.0.0.0"},
		{"private_10", "10.0.0.1"},
		{"private_10_top", "10.255.255.255"},
		{"cgnat_low", "100.64.0.1"},
		{"cgnat_high", "100.127.255.254"},
		{"loopback", "127.0.0.1"},
		{"loopback_other", "127.1.2.3"},
		{"link_local", "169.254.1.1"},
		{"metadata_v4", "169.254.169.254"},
		{"private_172_low", "172.16.0.1"},
		{"private_172_high", "172.31.255.254"},
		{"ietf_protocol", "192.0.0.170"},
		{"documentation_1", "192.0.2.1"},
		{"private_192", "192.168.1.1"},
		{"benchmarking", "198.18.0.1"},
		{"documentation_2", "198.51.100.7"},
		{"documentation_3", "203.0.113.9"},
		{"multicast_v4", "224.0.0.1"},
		{"reserved", "240.0.0.1"},
		{"broadcast", "255.255.255.255"},
		{"unspecified_v6", "::"},
		{"loopback_v6", "::1"},
		{"mapped_loopback", "::ffff:127.0.0.1"},
		{"mapped_metadata", "::ffff:169.254.169.254"},
		{"mapped_private", "::ffff:10.1.2.3"},
		{"mapped_unspecified", "::ffff:0.0.0.0"},
		{"mapped_hex_loopback", "::ffff:7f00:1"},
		{"nat64_metadata", "64:ff9b::a9fe:a9fe"},
		{"nat64_loopback", "64:ff9b::127.0.0.1"},
		{"sixtofour_loopback", "2002:7f00:1::"},
		{"sixtofour_metadata", "2002:a9fe:a9fe::1"},
		{"sixtofour_private", "2002:c0a8:101::1"},
		{"unique_local", "fc00::1"},
		{"metadata_v6_aws", "fd00:ec2::254"},
		{"link_local_v6", "fe80::1"},
		{"link_local_v6_zone", "fe80::1%eth0"},
		{"link_local_v6_zone_index", "fe80::a9fe:a9fe%1"},
		{"unique_local_zone", "fd00:ec2::254%eth0"},
		{"site_local_v6", "fec0::1"},
		{"multicast_v6", "ff02::1"},
		{"discard", "100::1"},
		{"documentation_v6", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			if got := Allowed(a); got {
				t.Errorf("Allowed(%s) = %v, want false", tt.addr, got)
			}
		})
	}
}

func TestAllowedAcceptsPublicAddresses(t *testing.T) {
	tests := []struct {
		name string
		addr string
	}{
		{"google_dns", "8.8.8.8"},
		{"cloudflare_dns", "1.1.1.1"},
		{"cloudflare_v6", "2606:4700::1111"},
		{"google_v6", "2001:4860:4860::8888"},
		{"mapped_public", "::ffff:8.8.8.8"},
		{"after_cgnat", "100.128.0.1"},
		{"before_cgnat", "100.63.255.255"},
		{"after_private_172", "172.32.0.1"},
		{"after_link_local", "169.255.0.1"},
		{"before_multicast", "223.255.255.254"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			if got := Allowed(a); !got {
				t.Errorf("Allowed(%s) = %v, want true", tt.addr, got)
			}
		})
	}
}

func TestAllowedRefusesInvalidAddress(t *testing.T) {
	if got := Allowed(netip.Addr{}); got {
		t.Errorf("Allowed(netip.Addr{}) = %v, want false", got)
	}
}

// listen returns a listener on addr, or skips when the host lacks that
// address family (IPv6 is off in some containers).
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("net.Listen(%q): %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// loopbackName returns the loopback interface's name ("lo" on Linux).
func loopbackName(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Skipf("net.Interfaces: %v", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}

func TestDialerRefusesPrivateAddresses(t *testing.T) {
	v4 := listen(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(v4.Addr().String())
	tests := []struct {
		name string
		ln   func(t *testing.T) string // the address to dial
	}{
		{"loopback_v4", func(*testing.T) string { return v4.Addr().String() }},
		{"loopback_v6", func(t *testing.T) string { return listen(t, "[::1]:0").Addr().String() }},
		// A zone does not change where [::1] goes: it must not hide it.
		{"loopback_v6_zone", func(t *testing.T) string {
			_, p, _ := net.SplitHostPort(listen(t, "[::1]:0").Addr().String())
			return net.JoinHostPort("::1%"+loopbackName(t), p)
		}},
		{"unspecified_v4", func(*testing.T) string { return net.JoinHostPort("0.0.0.0", port) }},
		{"mapped_loopback", func(*testing.T) string { return net.JoinHostPort("::ffff:127.0.0.1", port) }},
		// localhost resolves to loopback: the check runs on the address
		// actually dialled, not on the name.
		{"localhost_name", func(*testing.T) string { return net.JoinHostPort("localhost", port) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.ln(t)
			conn, err := Dialer(false, 5*time.Second).DialContext(context.Background(), "tcp", addr)
			if err == nil {
				conn.Close()
				t.Fatalf("Dialer(false).DialContext(%s) = nil error, want one wrapping ErrBlocked", addr)
			}
			if !errors.Is(err, ErrBlocked) {
				t.Errorf("Dialer(false).DialContext(%s) = %v, want an error wrapping ErrBlocked", addr, err)
			}
			if !strings.Contains(err.Error(), "allow_private_network") {
				t.Errorf("Dialer(false).DialContext(%s) = %v, want the error to name allow_private_network", addr, err)
			}
		})
	}
}

func TestDialerAllowsPrivateWhenAsked(t *testing.T) {
	v4 := listen(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(v4.Addr().String())
	tests := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"loopback_v4", func(*testing.T) string { return v4.Addr().String() }},
		{"loopback_v6", func(t *testing.T) string { return listen(t, "[::1]:0").Addr().String() }},
		{"localhost_name", func(*testing.T) string { return net.JoinHostPort("localhost", port) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr(t)
			conn, err := Dialer(true, 5*time.Second).DialContext(context.Background(), "tcp", addr)
			if err != nil {
				t.Fatalf("Dialer(true).DialContext(%s) = %v, want a connection", addr, err)
			}
			conn.Close()
		})
	}
}

func TestDialerSetsTimeout(t *testing.T) {
	for _, allow := range []bool{false, true} {
		if got := Dialer(allow, 7*time.Second).Timeout; got != 7*time.Second {
			t.Errorf("Dialer(%v, 7s).Timeout = %v, want 7s", allow, got)
		}
	}
}

func TestControlRefusesUnparsableAddress(t *testing.T) {
	err := control(context.Background(), "tcp", "not-an-address", nil)
	if !errors.Is(err, ErrBlocked) {
		t.Errorf("control(not-an-address) = %v, want an error wrapping ErrBlocked", err)
	}
}

// FuzzAllowed checks Allowed on arbitrary 16-byte addresses, their IPv4
// reading and a zone: it never panics, and nothing in a blocked prefix, and
// nothing the standard library calls loopback, private, link-local,
// multicast or unspecified, is ever allowed.
func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "fd00:ec2::254", "2002:7f00:1::", "2606:4700::1111", "::1", "fe80::1"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:], "")
	}
	f.Add(make([]byte, 16), "eth0")
	f.Fuzz(func(t *testing.T, b []byte, zone string) {
		var raw [16]byte
		copy(raw[:], b)
		v6 := netip.AddrFrom16(raw)
		addrs := []netip.Addr{v6, netip.AddrFrom4([4]byte(raw[12:])), netip.AddrFrom4([4]byte(raw[:4]))}
		if zone != "" && !v6.Is4In6() {
			addrs = append(addrs, v6.WithZone(zone))
		}
		for _, a := range addrs {
			if !Allowed(a) {
				continue
			}
			plain := a.Unmap().WithZone("")
			for _, p := range blocked {
				if p.Contains(plain) {
					t.Errorf("Allowed(%s) = true, want false (in %s)", a, p)
				}
			}
			if plain.IsLoopback() || plain.IsPrivate() || plain.IsLinkLocalUnicast() || plain.IsLinkLocalMulticast() ||
				plain.IsInterfaceLocalMulticast() || plain.IsMulticast() || plain.IsUnspecified() {
				t.Errorf("Allowed(%s) = true, want false (a special-purpose address)", a)
			}
		}
	})
}
