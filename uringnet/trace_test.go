package uringnet

import (
	"context"
	"net/http/httptrace"
)

// withConnTrace records the local address of the connection each request
// used.
func withConnTrace(ctx context.Context, local *string) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { *local = info.Conn.LocalAddr().String() },
	})
}
