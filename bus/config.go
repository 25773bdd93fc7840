package bus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrClosed is returned by the methods of a closed [Bus] (and by a second
// [Bus.Close]).
var ErrClosed = errors.New("bus: closed")

// State is the position of the namespace's invalidation sequence: the last
// sequence number handed out, in epoch Epoch. Sequence numbers start at 1 in
// each epoch; a new epoch (Redis restarted empty, a failover that lost
// writes) invalidates everything before it.
type State struct {
	Seq   uint64
	Epoch string
}

// Source is where the bus reads the truth it checks the channel against:
// package remote's L2 store, wired by the composer. The bus calls it from its
// own goroutine with a context bounded by Config.Heartbeat; an error leaves
// the bus untrusted until a later heartbeat succeeds.
type Source interface {
	// State returns the current state of the namespace (creating the epoch
	// if there is none yet). seen is the state the bus has applied (zero
	// before the first reset): a Source whose history went back behind it
	// (a lower sequence in the same epoch) must start a new epoch rather
	// than answer it, since the invalidations in between are lost.
	State(ctx context.Context, seen State) (State, error)
	// Log returns the invalidations numbered after+1 to upto, in order, and
	// complete=false if the log no longer holds every one of them (trimmed,
	// or Redis restarted). Every message must carry its epoch.
	Log(ctx context.Context, after, upto uint64) (msgs []Message, complete bool, err error)
}

// Handler is what the bus drives: package local's L1, wired by the
// composer. Its methods are called from one goroutine, never concurrently.
type Handler interface {
	// Apply applies one invalidation. It is called in sequence order, once
	// per sequence number of the current epoch, for messages of every origin
	// (this node's own too), always with the dependencies (never with
	// Message.InLog set).
	Apply(m Message)
	// Reset is called when the bus cannot catch up (first start, a gap the
	// log no longer covers, an epoch change, the sequence going backwards):
	// drop everything and continue from s. Apply is next called for s.Seq+1.
	Reset(s State)
	// Hold is called for a hold of the current epoch ([Message.Hold]):
	// an invalidation Redis refused, whose entries may still be there. It
	// is called from the receive goroutine, in no sequence.
	Hold(m Message)
}

// Defaults of [Config].
const (
	DefaultTrustWindow    = 2 * time.Second
	DefaultMaxMessageSize = 64 << 10
)

// Config configures a [Bus]. The zero value of an optional field takes its
// default; Start does not modify the Config it is given.
type Config struct {
	// Redis is the client the bus subscribes with (required). It should
	// have ContextTimeoutEnabled set, so that the bus's bounded contexts
	// also bound dials and reads.
	Redis redis.UniversalClient
	// Channel is the pub/sub channel, "<ns>:inv" (required).
	Channel string
	// Source gives the state and the log to catch up from (required).
	Source Source
	// Handler receives the invalidations (required).
	Handler Handler
	// TrustWindow is how long the bus may hear nothing from its
	// subscription (no message, no pong, no confirmation) before it stops
	// being trusted and forces a fresh connection.
	//
	// default: 2s
	TrustWindow time.Duration
	// Heartbeat is the interval of the bus's pings and state checks, and
	// the timeout of each call to the Source. It must be shorter than
	// TrustWindow. A message lost while the connection stayed up is
	// replayed within two heartbeats.
	//
	// default: TrustWindow/4
	Heartbeat time.Duration
	// Key, when set, authenticates messages: only messages signed with it
	// (by the publishing scripts, see package remote) are applied; others
	// are dropped and counted in Stats.Forged. Without a Key, signed and
	// unsigned messages are both accepted (signatures are not checked), so
	// that the key can be rolled out node by node: first to the publishers,
	// then to the subscribers. Messages replayed from the log are not
	// signed: the log is a key, guarded by Redis's key permissions.
	//
	// default: none
	Key *Key
	// MaxMessageSize is the size above which a message is dropped as
	// malformed. Package remote publishes no message over 32 KiB (plus a
	// signature): a longer one goes out with its dependencies left in the
	// log ([Message.InLog]), and the bus reads them from [Source.Log].
	//
	// default: 64 KiB
	MaxMessageSize int
	// Sharded subscribes with SSUBSCRIBE (sharded pub/sub, Redis 7) instead
	// of SUBSCRIBE: set it when Redis is a cluster and the invalidations are
	// published with SPUBLISH (package remote does so on a cluster). The
	// subscription is made on the master that owns the channel's slot; if
	// the slot moves, the bus subscribes again on its new owner and catches
	// up from the log.
	//
	// default: false
	Sharded bool
	// Logger receives debug records of dropped messages and info records
	// of resets and forced reconnections.
	//
	// default: none (records are discarded)
	Logger *slog.Logger
}

// withDefaults returns a copy of c with the defaults filled in, or an error
// saying what is wrong.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Redis == nil:
		return c, errors.New("bus: Config.Redis is nil")
	case c.Channel == "":
		return c, errors.New("bus: Config.Channel is empty")
	case c.Source == nil:
		return c, errors.New("bus: Config.Source is nil")
	case c.Handler == nil:
		return c, errors.New("bus: Config.Handler is nil")
	case c.TrustWindow < 0:
		return c, errors.New("bus: Config.TrustWindow is negative")
	case c.Heartbeat < 0:
		return c, errors.New("bus: Config.Heartbeat is negative")
	case c.MaxMessageSize < 0:
		return c, errors.New("bus: Config.MaxMessageSize is negative")
	}
	if c.TrustWindow == 0 {
		c.TrustWindow = DefaultTrustWindow
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = c.TrustWindow / 4
	}
	if c.Heartbeat <= 0 || c.Heartbeat >= c.TrustWindow {
		return c, errors.New("bus: Config.Heartbeat must be shorter than Config.TrustWindow")
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
