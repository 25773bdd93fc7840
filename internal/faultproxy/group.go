package faultproxy

import "time"

// Group is several proxies that a fault hits together: the proxies of one
// client in front of every server of a deployment (each master of a Redis
// Cluster, say). Each method calls the Proxy method of the same name on
// every member.
type Group []*Proxy

// Refuse calls [Proxy.Refuse] on every member.
func (g Group) Refuse(on bool) {
	for _, p := range g {
		p.Refuse(on)
	}
}

// CutAll calls [Proxy.CutAll] on every member.
func (g Group) CutAll() {
	for _, p := range g {
		p.CutAll()
	}
}

// Freeze calls [Proxy.Freeze] on every member.
func (g Group) Freeze() {
	for _, p := range g {
		p.Freeze()
	}
}

// Thaw calls [Proxy.Thaw] on every member.
func (g Group) Thaw() {
	for _, p := range g {
		p.Thaw()
	}
}

// Delay calls [Proxy.Delay] on every member.
func (g Group) Delay(d time.Duration) {
	for _, p := range g {
		p.Delay(d)
	}
}
