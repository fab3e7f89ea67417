package uringnet

import (
	"net"
	"reflect"
	"slices"
	"testing"
)

// TestMethodSurface checks that this package's types have the methods
// of the net types they stand in for, with the same signatures once
// net's types are replaced by ours (*net.TCPConn by *Conn, ...), so that
// code calling them compiles with only the package name changed. The
// methods still missing are listed, so that the list shrinks as they
// are added, and a method added to net shows here.
func TestMethodSurface(t *testing.T) {
	ours := map[reflect.Type]reflect.Type{
		reflect.TypeFor[*net.TCPConn]():      reflect.TypeFor[*Conn](),
		reflect.TypeFor[*net.TCPListener]():  reflect.TypeFor[*Listener](),
		reflect.TypeFor[*net.UnixListener](): reflect.TypeFor[*Listener](),
		reflect.TypeFor[*net.UDPConn]():      reflect.TypeFor[*PacketConn](),
	}
	unixStream := reflect.TypeFor[*net.UnixConn]()
	cases := []struct {
		net, ours reflect.Type
		// unixConn is what stands for *net.UnixConn in the results.
		unixConn reflect.Type
		// missing are the methods ours lacks, differ those it has
		// with another signature.
		missing, differ []string
	}{
		{reflect.TypeFor[*net.TCPConn](), reflect.TypeFor[*Conn](), nil, nil, nil},
		// A stream UnixConn is a *Conn, which lacks the datagram
		// methods (they are *PacketConn's); its ReadFrom and WriteTo
		// are io.ReaderFrom's and io.WriterTo's, as *net.TCPConn's.
		{unixStream, reflect.TypeFor[*Conn](), nil, []string{"ReadFromUnix", "WriteToUnix"}, []string{"ReadFrom", "WriteTo"}},
		{unixStream, reflect.TypeFor[*PacketConn](), nil, []string{"CloseRead", "CloseWrite"}, nil},
		{reflect.TypeFor[*net.UDPConn](), reflect.TypeFor[*PacketConn](), nil, nil, nil},
		{reflect.TypeFor[*net.TCPListener](), reflect.TypeFor[*Listener](), nil, nil, nil},
		{reflect.TypeFor[*net.UnixListener](), reflect.TypeFor[*Listener](), reflect.TypeFor[*Conn](), nil, nil},
		{reflect.TypeFor[*net.Dialer](), reflect.TypeFor[*Dialer](), reflect.TypeFor[*Conn](), []string{"DialIP"}, nil},
		{reflect.TypeFor[*net.ListenConfig](), reflect.TypeFor[*ListenConfig](), nil, nil, nil},
	}
	for _, tc := range cases {
		mapType := func(typ reflect.Type) reflect.Type {
			if typ == unixStream && tc.unixConn != nil {
				return tc.unixConn
			}
			if o, ok := ours[typ]; ok {
				return o
			}
			return typ
		}
		var missing, differ []string
		for i := range tc.net.NumMethod() {
			m := tc.net.Method(i)
			om, ok := tc.ours.MethodByName(m.Name)
			if !ok {
				missing = append(missing, m.Name)
				continue
			}
			// Compare without the receiver.
			nt, ot := m.Type, om.Type
			same := nt.NumIn() == ot.NumIn() && nt.NumOut() == ot.NumOut() && nt.IsVariadic() == ot.IsVariadic()
			for j := 1; same && j < nt.NumIn(); j++ {
				same = mapType(nt.In(j)) == ot.In(j)
			}
			for j := 0; same && j < nt.NumOut(); j++ {
				same = mapType(nt.Out(j)) == ot.Out(j)
			}
			if !same {
				differ = append(differ, m.Name)
				if !slices.Contains(tc.differ, m.Name) {
					t.Errorf("%v.%s is %v; net's %v.%s is %v", tc.ours, m.Name, ot, tc.net, m.Name, nt)
				}
			}
		}
		if !slices.Equal(differ, tc.differ) {
			t.Errorf("%v's methods %v differ from %v's; the test expects %v", tc.ours, differ, tc.net, tc.differ)
		}
		if !slices.Equal(missing, tc.missing) {
			t.Errorf("%v lacks %v of %v's methods; the test expects %v", tc.ours, missing, tc.net, tc.missing)
		}
	}
}
