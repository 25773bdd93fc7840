// Package faultproxy is a fault-injecting TCP proxy for tests: it sits
// between a client and a server (usually a private redis-server from
// internal/redistest) and can freeze the network without closing anything (a
// half-open connection), add latency, cut every connection, or refuse new
// ones.
//
// It owns only the listener it opens on 127.0.0.1 and the connections it
// accepts and dials; it never touches the target beyond dialing it, and it
// keeps no package-level state. [Proxy.Close] closes everything and waits for
// every goroutine it started, so tests can run under goleak.
//
// Each connection is forwarded in both directions by a reader goroutine, which
// reads chunks and stamps them with the time they were read, and a writer
// goroutine, which holds each chunk until its read time plus the current
// [Proxy.Delay] has passed and the proxy is not frozen, then writes it. A
// frozen proxy therefore holds bytes (and end-of-stream) instead of dropping
// them, and thawing lets them flow on in order.
package faultproxy
