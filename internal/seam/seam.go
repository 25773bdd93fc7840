// Package seam holds the observation points through which the module's own
// tests (package chaos) watch, hold and wire a tiered.Cache from outside
// package tiered. Programs outside the module cannot import it, so for them
// tiered.Config.Seam can only stay nil.
package seam

import "github.com/matroska-go/matroska/bus"

// Hooks are called by a tiered.Cache whose Config.Seam points to them. A nil
// function is not called; the zero value changes nothing.
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
