package workload

import (
	"errors"
	"fmt"
	"time"
)

// Workload names, in the order Run runs them.
const (
	WHit         = "hit"
	WL2          = "l2"
	WMiss        = "miss"
	WPropagation = "propagation"
	WBigDep      = "bigdep"
	WStampede    = "stampede"
	WMixed       = "mixed"
	WMemory      = "memory"
	WBatch       = "batch"
	WCodec       = "codec"
	WFleet       = "fleet"
	WCost        = "redis-cost"
	WCold        = "cold"
)

// AllWorkloads lists every workload in run order.
var AllWorkloads = []string{WHit, WL2, WMiss, WPropagation, WBigDep, WStampede, WMixed, WMemory, WBatch, WCodec, WFleet, WCost, WCold}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("workload: invalid config")

// Config sizes a run. Zero fields take the defaults of Full (or of Quick
// when Quick is set).
type Config struct {
	Quick bool // small sizes: the whole run takes about a minute

	// Workloads are the workloads to run: nil runs them all; an empty,
	// non-nil list runs none (a program that runs workloads of its own
	// only, as bench/ does for -workloads cdc, still gets the run's header).
	Workloads []string

	HitDuration    time.Duration // each L1 hit measurement (single, parallel)
	HitKeys        int           // keys the L1 hit workload cycles through
	L2Keys         int           // keys read once each from a cold L1
	Pace           time.Duration // busy work before each read of the paced L2 hit measurement
	MissKeys       int           // keys loaded once each
	Nodes          int           // nodes of the propagation and stampede workloads
	Rounds         int           // invalidations measured for propagation
	BigDepEntries  int           // entries depending on the one invalidated dependency
	StampedeWaiter int           // goroutines per node on the cold key
	StampedeLoad   time.Duration // the loader's latency in the stampede
	MixedNodes     int           // nodes of the mixed workload
	MixedWorkers   int           // goroutines per node in the mixed workload
	MixedKeys      int           // key space of the mixed workload
	MixedDuration  time.Duration // measured time of the mixed workload (after a warm-up of a third of it)
	MixedLoad      time.Duration // the loader's latency in the mixed workload
	WriteRatio     float64       // share of mixed operations that write
	ZipfS          float64       // Zipf exponent (> 1)
	MemoryKeys     int           // entries filled for the memory measurement
	BatchSize      int           // keys per batch of the batch workload
	Batches        int           // batches each cache reads in the batch workload
	CodecDuration  time.Duration // measured time of each encoding and decoding of the codec workload
	CodecReads     int           // L2 hits of the list read per codec in the codec workload
	TTL            time.Duration // entry time to live for every adapter

	FleetNodes   []int         // fleet sizes of the fleet workload, each run on its own
	FleetRates   []int         // invalidations per second asked of the writers, step by step, until one is not sustained
	FleetStep    time.Duration // measured time of each rate step
	FleetHotKeys int           // keys every node of the fleet holds in L1 (the writers' keys)
	CostOps      int           // operations measured per path of the redis-cost workload
	ColdNodes    int           // nodes of the cold workload
	ColdWorkers  int           // goroutines per node in the cold workload
	ColdKeys     int           // key space of the cold workload (Zipf, ZipfS)
	ColdMax      time.Duration // the cold workload gives up on a 90% L1 hit rate after this long
}

// Full is the configuration of a full run (a few minutes).
var Full = Config{
	HitDuration:    2 * time.Second,
	HitKeys:        1024,
	L2Keys:         10000,
	Pace:           200 * time.Microsecond,
	MissKeys:       5000,
	Nodes:          8,
	Rounds:         200,
	BigDepEntries:  100000,
	StampedeWaiter: 200,
	StampedeLoad:   50 * time.Millisecond,
	MixedNodes:     4,
	MixedWorkers:   8,
	MixedKeys:      100000,
	MixedDuration:  10 * time.Second,
	MixedLoad:      200 * time.Microsecond,
	WriteRatio:     0.01,
	ZipfS:          1.1,
	MemoryKeys:     20000,
	BatchSize:      100,
	Batches:        100,
	CodecDuration:  200 * time.Millisecond,
	CodecReads:     500,
	TTL:            time.Minute,
	FleetNodes:     []int{8, 32, 64},
	FleetRates:     []int{500, 1000, 2000, 5000, 10000, 20000, 50000},
	FleetStep:      2 * time.Second,
	FleetHotKeys:   1000,
	CostOps:        2000,
	ColdNodes:      64,
	ColdWorkers:    2,
	ColdKeys:       100000,
	ColdMax:        2 * time.Minute,
}

// Quick is the configuration of a smoke run (about a minute with every
// adapter).
var Quick = Config{
	HitDuration:    300 * time.Millisecond,
	HitKeys:        256,
	L2Keys:         1000,
	Pace:           200 * time.Microsecond,
	MissKeys:       500,
	Nodes:          8,
	Rounds:         30,
	BigDepEntries:  10000,
	StampedeWaiter: 200,
	StampedeLoad:   50 * time.Millisecond,
	MixedNodes:     4,
	MixedWorkers:   8,
	MixedKeys:      100000,
	MixedDuration:  2 * time.Second,
	MixedLoad:      200 * time.Microsecond,
	WriteRatio:     0.01,
	ZipfS:          1.1,
	MemoryKeys:     2000,
	BatchSize:      100,
	Batches:        20,
	CodecDuration:  40 * time.Millisecond,
	CodecReads:     100,
	TTL:            time.Minute,
	FleetNodes:     []int{8, 16},
	FleetRates:     []int{500, 2000, 5000, 10000, 20000},
	FleetStep:      500 * time.Millisecond,
	FleetHotKeys:   200,
	CostOps:        300,
	ColdNodes:      8,
	ColdWorkers:    2,
	ColdKeys:       10000,
	ColdMax:        20 * time.Second,
}

// withDefaults fills zero fields and checks the result.
func (c Config) withDefaults() (Config, error) {
	d := Full
	if c.Quick {
		d = Quick
	}
	durs := []struct{ v, def *time.Duration }{
		{&c.HitDuration, &d.HitDuration}, {&c.StampedeLoad, &d.StampedeLoad},
		{&c.MixedDuration, &d.MixedDuration}, {&c.MixedLoad, &d.MixedLoad}, {&c.TTL, &d.TTL},
		{&c.Pace, &d.Pace}, {&c.CodecDuration, &d.CodecDuration}, {&c.FleetStep, &d.FleetStep},
		{&c.ColdMax, &d.ColdMax},
	}
	for _, x := range durs {
		if *x.v == 0 {
			*x.v = *x.def
		}
		if *x.v < 0 {
			return c, fmt.Errorf("%w: negative duration %v", ErrConfig, *x.v)
		}
	}
	ints := []struct{ v, def *int }{
		{&c.HitKeys, &d.HitKeys}, {&c.L2Keys, &d.L2Keys}, {&c.MissKeys, &d.MissKeys},
		{&c.Nodes, &d.Nodes}, {&c.Rounds, &d.Rounds}, {&c.BigDepEntries, &d.BigDepEntries},
		{&c.StampedeWaiter, &d.StampedeWaiter}, {&c.MixedNodes, &d.MixedNodes},
		{&c.MixedWorkers, &d.MixedWorkers}, {&c.MixedKeys, &d.MixedKeys}, {&c.MemoryKeys, &d.MemoryKeys},
		{&c.BatchSize, &d.BatchSize}, {&c.Batches, &d.Batches}, {&c.CodecReads, &d.CodecReads},
		{&c.FleetHotKeys, &d.FleetHotKeys}, {&c.CostOps, &d.CostOps}, {&c.ColdNodes, &d.ColdNodes},
		{&c.ColdWorkers, &d.ColdWorkers}, {&c.ColdKeys, &d.ColdKeys},
	}
	for _, x := range ints {
		if *x.v == 0 {
			*x.v = *x.def
		}
		if *x.v < 0 {
			return c, fmt.Errorf("%w: negative size %d", ErrConfig, *x.v)
		}
	}
	if c.Nodes < 2 || c.MixedNodes < 1 {
		return c, fmt.Errorf("%w: need at least 2 nodes (propagation) and 1 mixed node", ErrConfig)
	}
	for _, x := range []struct {
		v    *[]int
		def  []int
		what string
	}{{&c.FleetNodes, d.FleetNodes, "fleet size"}, {&c.FleetRates, d.FleetRates, "fleet rate"}} {
		if len(*x.v) == 0 {
			*x.v = x.def
		}
		for _, n := range *x.v {
			if n < 1 {
				return c, fmt.Errorf("%w: %s %d below 1", ErrConfig, x.what, n)
			}
		}
	}
	if c.WriteRatio == 0 {
		c.WriteRatio = d.WriteRatio
	}
	if c.WriteRatio < 0 || c.WriteRatio > 1 {
		return c, fmt.Errorf("%w: write ratio %v outside [0, 1]", ErrConfig, c.WriteRatio)
	}
	if c.ZipfS == 0 {
		c.ZipfS = d.ZipfS
	}
	if c.ZipfS <= 1 {
		return c, fmt.Errorf("%w: Zipf exponent %v must be > 1", ErrConfig, c.ZipfS)
	}
	if c.Workloads == nil {
		c.Workloads = AllWorkloads
	}
	for _, w := range c.Workloads {
		known := false
		for _, a := range AllWorkloads {
			known = known || a == w
		}
		if !known {
			return c, fmt.Errorf("%w: unknown workload %q (have %v)", ErrConfig, w, AllWorkloads)
		}
	}
	return c, nil
}
