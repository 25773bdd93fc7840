package local

import (
	"errors"
	"fmt"
	"time"
)

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("local: invalid config")

// Config configures a [Cache]. The zero value of every field selects its
// default; negative values are an error. New never modifies the Config it is
// given.
type Config struct {
	// MaxCost bounds the cache, in the unit of the cost passed to
	// [Cache.Fill] (bytes). Ristretto evicts to stay under it.
	// default: 64 MiB
	MaxCost int64

	// NumCounters is the number of TinyLFU admission counters; about ten
	// times the number of entries expected when the cache is full.
	// default: MaxCost/100 (entries of about 1 KiB), clamped to
	// [10_000, 10_000_000]
	NumCounters int64

	// BufferItems is the size of Ristretto's Get buffers (see
	// ristretto.Config.BufferItems).
	// default: 64
	BufferItems int64

	// MaxTTL is the hard maximum time to live of every entry: a longer TTL
	// given to Fill is cut to it. It bounds how long an entry can outlive a
	// lost invalidation (G4).
	// default: 10 minutes
	MaxTTL time.Duration

	// Tombstones is the number of dependencies whose last invalidation is
	// remembered. When one is forgotten the floor rises to its sequence, and
	// fills with an older start mark are refused.
	// default: 100_000
	Tombstones int

	// Clock is the time source of entry expiry, read on every Get and Fill.
	// When nil the cache keeps a clock of its own: a goroutine reads the
	// system's monotonic clock every [ClockResolution] (1 ms) and Get loads
	// the last reading, so an entry may be served up to about that long
	// past its TTL; about once a second the goroutine also drops expired
	// entries that no Get has met. Close stops the goroutine. With a Clock
	// set there is no goroutine: expired entries leave when Get meets them
	// or Ristretto evicts them.
	// default: nil (the cache's own coarse clock)
	Clock Clock
}

// Defaults of [Config].
const (
	DefaultMaxCost     = 64 << 20
	DefaultBufferItems = 64
	DefaultMaxTTL      = 10 * time.Minute
	DefaultTombstones  = 100_000

	minCounters = 10_000
	maxCounters = 10_000_000
)

// withDefaults returns a validated copy of cfg with every zero field set to
// its default.
func (cfg Config) withDefaults() (Config, error) {
	switch {
	case cfg.MaxCost < 0:
		return cfg, fmt.Errorf("%w: MaxCost %d is negative", ErrConfig, cfg.MaxCost)
	case cfg.NumCounters < 0:
		return cfg, fmt.Errorf("%w: NumCounters %d is negative", ErrConfig, cfg.NumCounters)
	case cfg.BufferItems < 0:
		return cfg, fmt.Errorf("%w: BufferItems %d is negative", ErrConfig, cfg.BufferItems)
	case cfg.MaxTTL < 0:
		return cfg, fmt.Errorf("%w: MaxTTL %v is negative", ErrConfig, cfg.MaxTTL)
	case cfg.Tombstones < 0:
		return cfg, fmt.Errorf("%w: Tombstones %d is negative", ErrConfig, cfg.Tombstones)
	}
	if cfg.MaxCost == 0 {
		cfg.MaxCost = DefaultMaxCost
	}
	if cfg.NumCounters == 0 {
		cfg.NumCounters = min(max(cfg.MaxCost/100, minCounters), maxCounters)
	}
	if cfg.BufferItems == 0 {
		cfg.BufferItems = DefaultBufferItems
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.Tombstones == 0 {
		cfg.Tombstones = DefaultTombstones
	}
	return cfg, nil
}
