// Package seam holds the observation points through which the module's own
// tests (package chaos) watch, hold and wire a tiered.Cache from outside
// package tiered. Hooks are attached to the Redis client a node is built
// on, so that nothing of them shows in tiered's API; programs outside the
// module cannot import this package.
package seam

import (
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/bus"
)

// Hooks are called by a tiered.Cache built on a client they are attached
// to. A nil function is not called; the zero value changes nothing.
type Hooks struct {
	// Apply is called on the node's bus goroutine before each invalidation
	// is applied to L1, whether it came on the channel or was replayed from
	// the log. Blocking in it holds the node's bus, as a starved goroutine
	// would; the message tells which invalidation arrived and when.
	Apply func(m bus.Message)

	// Cluster makes the node speak the Redis Cluster protocol with a
	// client that is not a *redis.ClusterClient: a wrapper of one that
	// sends the bus's subscription through other connections (see
	// remote.Config.Cluster).
	Cluster bool
}

// attached maps a client (a comparable redis.UniversalClient) to its *Hooks.
var attached sync.Map

// Attach makes every tiered.Cache that tiered.New builds on rdb from now on
// use h, until detach is called. rdb must be comparable (a pointer, or a
// struct of pointers).
func Attach(rdb redis.UniversalClient, h *Hooks) (detach func()) {
	attached.Store(rdb, h)
	return func() { attached.CompareAndDelete(rdb, h) }
}

// Of returns the hooks attached to rdb, or nil.
func Of(rdb redis.UniversalClient) *Hooks {
	if rdb == nil {
		return nil
	}
	h, _ := attached.Load(rdb)
	hooks, _ := h.(*Hooks)
	return hooks
}
