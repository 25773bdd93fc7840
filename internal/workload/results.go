package workload

import (
	"io"
	"time"
)

// Results are the figures of one run. Rows of an adapter that cannot run a
// workload carry a Note saying why and no figures.
type Results struct {
	Machine  string // Go version, cores, CPU model, Redis version
	Redis    string // the server's address and how it was obtained
	Started  time.Time
	Elapsed  time.Duration
	Config   Config
	Adapters []string // adapter names, in run order

	Hit         []HitRow
	L2          []LatencyRow
	L2Paced     []LatencyRow // the L2 hit again, with Config.Pace of work before each read
	Miss        []LatencyRow
	Propagation []PropagationRow
	BigDep      []BigDepRow
	Stampede    []StampedeRow
	Mixed       []MixedRow
	Memory      []MemoryRow
	Batch       []BatchRow
	Codec       []CodecRow     // encode, decode and size of each codec on each value
	CodecRead   []CodecReadRow // L2 hits of the list, per codec
	Fleet       []FleetRow     // the fleet workload, one row per rate step
	FleetBest   []FleetBest    // the highest sustained rate of each fleet size
	Cost        []CostRow      // Redis's CPU per operation, per path
	Cold        []ColdRow      // a cold fleet warming up
	Errors      []string       // workloads that failed, with the error

	// Extensions are the figures of workloads that the program running
	// the harness adds (bench/: cdc), by name: results.json holds each
	// under its name, and WriteMarkdown writes their sections, in name
	// order, after the harness's tables.
	Extensions map[string]Extension `json:",omitempty"`
}

// Extension is the figures of a workload the harness does not run itself.
type Extension interface {
	// WriteMarkdown writes the workload's section of results.md.
	WriteMarkdown(w io.Writer) error
}

// HitRow is one L1 hit measurement.
type HitRow struct {
	Adapter    string
	Parallel   bool    // GOMAXPROCS goroutines on one node, else one goroutine
	Goroutines int     // goroutines
	Ops        int64   // operations measured
	NsPerOp    float64 // wall time per operation (total throughput for Parallel)
	AllocsOp   float64 // heap allocations per operation
	BytesOp    float64 // bytes allocated per operation
	RedisOp    float64 // Redis commands per operation (server-side count; ~0 for an L1 hit)
	Loads      int64   // loader calls during the measurement (should be 0)
	Ratio      float64 // NsPerOp / raw Ristretto's of the same mode (0 when not measured)
	Note       string
}

// LatencyRow is one per-operation latency measurement (L2 hit, miss).
type LatencyRow struct {
	Adapter  string
	Ops      int
	Mean     time.Duration
	P50      time.Duration
	P99      time.Duration
	RTOp     float64 // client round trips per operation; -1 when not observable
	RedisOp  float64 // Redis commands per operation, server-side (commands inside scripts included)
	Loads    int64   // loader calls
	Ratio    float64 // Mean / raw go-redis's Mean (0 when not measured)
	Note     string
	Measured bool
}

// PropagationRow is the invalidation propagation of one adapter.
type PropagationRow struct {
	Adapter  string
	Nodes    int
	Rounds   int           // invalidations measured
	Timeouts int           // rounds where some node still served the old value after the deadline
	Call     time.Duration // median duration of the invalidating call itself
	P50      time.Duration // from the invalidating call to the last node's eviction
	P99      time.Duration
	Max      time.Duration
	Note     string
	Measured bool
}

// BigDepRow is one invalidation of a dependency with many dependents.
type BigDepRow struct {
	Adapter    string
	Entries    int           // entries depending on the dependency
	Fill       time.Duration // time to fill them
	Total      time.Duration // the Invalidate call
	MaxCall    time.Duration // longest single Redis round trip of the invalidating client
	SlowlogMax time.Duration // longest command in SLOWLOG during the call (-1: SLOWLOG unavailable)
	SlowlogN   int           // commands of this run over the SLOWLOG threshold (1 ms)
	PingMax    time.Duration // longest PING of another client during the call: how long Redis stalled
	Left       int           // sampled entries still readable afterwards (must be 0)
	Sampled    int
	Note       string
	Measured   bool
}

// StampedeRow is one adapter's stampede: every goroutine of every node asks
// for one cold key at once.
type StampedeRow struct {
	Adapter    string
	Nodes      int
	Goroutines int   // per node
	Rounds     int   // cold keys tried
	MinLoads   int64 // fewest loader calls in a round
	MaxLoads   int64 // most loader calls in a round
	Wall       time.Duration
	Note       string
	Measured   bool
}

// MixedRow is one adapter's mixed workload.
//
// A stale read returned a version older than one whose invalidation had
// returned before the read began. On the node that called that
// invalidation it breaks read-your-writes (G3). On another node it is what
// the cache allows while the broadcast travels, up to Bound (this library:
// a node stops serving its L1 one TrustWindow after its last proof that it
// had applied every invalidation published, G4).
type MixedRow struct {
	Adapter     string
	Nodes       int
	Workers     int // goroutines in all
	Duration    time.Duration
	Ops         int64
	Reads       int64
	Writes      int64
	OpsPerSec   float64
	L1Ratio     float64       // reads answered from L1
	L2Ratio     float64       // reads answered by Redis (or by another caller's shared load)
	LoadRatio   float64       // reads that called the loader
	LoadsPerSec float64       // loader calls per second: the database load left
	Stale       int64         // stale reads (see above), on any node, of any age
	StaleWriter int64         // stale reads on the node whose invalidation they missed (target: 0)
	StaleOver   int64         // stale reads on other nodes that began more than Bound after that invalidation returned (target: 0; counted only with a Bound)
	StaleAge    time.Duration // the most time between such an invalidation's return and a stale read's start
	Bound       time.Duration // the longest another node may serve an invalidated value, by the cache's own guarantee (0: none promised)
	StaleReads  []StaleRead   // up to 8 stale reads: on the writer's node first, then the oldest
	P50         time.Duration
	P99         time.Duration
	Errors      int64
	Note        string
	Measured    bool
}

// StaleRead is one stale read of the mixed workload.
type StaleRead struct {
	Node   int           // the node that answered it (0 to MixedNodes-1)
	Writer int           // the node whose invalidation it missed
	Key    string        // the key read
	Got    uint64        // the version it returned
	Want   uint64        // the version whose invalidation it missed
	Age    time.Duration // from that invalidation's return to the read's start
}

// MemoryRow is the memory one cached entry costs.
type MemoryRow struct {
	Adapter    string
	Entries    int     // entries filled
	InL1       int     // of them, in L1 afterwards
	L1Bytes    float64 // Go heap growth per L1 entry (-1: no L1)
	RedisBytes float64 // Redis used_memory growth per entry (-1: no Redis)
	Note       string
	Measured   bool
}

// BatchRow is one cache's reads of batches of keys cold in its L1 and warm
// in Redis, in one mode: BatchCall (one call per batch) or BatchSingles
// (one Get per key). Times and counts are per batch.
type BatchRow struct {
	Adapter     string
	Mode        string // BatchCall or BatchSingles ("" when not measured)
	Keys        int    // keys per batch
	Batches     int    // batches measured
	Mean        time.Duration
	P50         time.Duration
	P99         time.Duration
	AllocsBatch float64 // heap allocations of the process per batch
	BytesBatch  float64 // bytes allocated per batch
	RTBatch     float64 // client round trips per batch; -1 when not observable
	RedisBatch  float64 // Redis commands per batch, server-side (commands inside scripts included)
	Loads       int64   // loader calls (should be 0)
	Ratio       float64 // Mean / raw go-redis's one-call Mean (0 when not measured)
	Note        string
	Measured    bool
}

// CodecRow is one codec's cost on one value: time to encode and to decode
// it, and its size, encoded and as stored in Redis.
type CodecRow struct {
	Adapter      string
	Codec        string // the codec's name
	Value        string // CodecItem or CodecList
	JSONBytes    int    // the value's encoding/json size, for scale
	Encoded      int    // bytes of the codec's encoding
	Stored       int    // bytes of the value's Redis string (this library: the envelope included, STRLEN)
	EncodeNs     float64
	DecodeNs     float64
	EncodeAllocs float64 // heap allocations per encoding
	DecodeAllocs float64 // heap allocations per decoding
	Note         string
	Measured     bool
}

// CodecReadRow is the L2 hit of the codec workload's list with one codec: a
// read through the cache of a key that is in Redis and not in the reading
// node's L1.
type CodecReadRow struct {
	Adapter  string
	Codec    string
	Reads    int
	Mean     time.Duration
	P50      time.Duration
	P99      time.Duration
	RTOp     float64 // client round trips per read
	Loads    int64   // loader calls (should be 0)
	Note     string
	Measured bool
}

// FleetRow is one rate step of the fleet workload: Nodes nodes, writers
// invalidating at Rate per second for Config.FleetStep.
type FleetRow struct {
	Adapter       string
	Nodes         int
	Rate          int           // invalidations per second asked of the writers
	Elapsed       time.Duration // the step's measured time
	Invalidations int64         // invalidations that returned (the writers' and the sampler's)
	Achieved      float64       // invalidations per second
	Errors        int64         // invalidations that failed
	Samples       int           // propagation samples
	Timeouts      int           // samples where some node still held the key 2 s after the invalidation
	P50           time.Duration // from Invalidate's return to the last node's eviction
	P99           time.Duration
	Max           time.Duration
	RedisCPU      float64 // Redis's CPU time per second of the step (1 = one core)
	RedisUsInv    float64 // Redis's CPU per invalidation, µs (used_cpu_user + used_cpu_sys)
	ScriptUsInv   float64 // EVALSHA time per invalidation, µs (commandstats)
	Published     float64 // PUBLISH calls per second (commandstats, inside scripts included; -1: none seen)
	Delivered     float64 // bus messages received per second, all nodes together (-1: not observable)
	NodeCPU       float64 // this process's CPU time per second, divided by Nodes (1 = one core per node)
	NodeUsInv     float64 // this process's CPU per invalidation, divided by Nodes, µs
	Top           string  // the commands that took Redis the most time, per invalidation
	Sustained     bool    // no error, no timeout, p99 within 10 ms, at least 90% of Rate achieved
	Note          string
	Measured      bool
}

// FleetBest is the highest sustained rate step of one adapter on one fleet
// size, and the step that ended the climb (0: none did).
type FleetBest struct {
	Adapter   string
	Nodes     int
	Rate      int     // the highest rate step sustained (0: none)
	Achieved  float64 // invalidations per second achieved in that step
	StoppedAt int     // the rate step that was not sustained (0: every step was)
	StoppedBy string  // why
}

// CostRow is what Redis spends on one operation of one path.
type CostRow struct {
	Path     string  // the operation
	Adapter  string  // MatroskaName or GoRedisName
	Ops      int     // operations measured
	CPUUs    float64 // Redis's CPU per operation, µs (used_cpu_user + used_cpu_sys)
	CmdUs    float64 // commandstats time per operation, µs, of the commands the client sent (a script's EVALSHA includes what it calls)
	Calls    float64 // commands per operation, inside scripts included
	Scripts  float64 // EVALSHA calls per operation
	ScriptUs float64 // µs per EVALSHA call
	Base     string  // the raw go-redis path it is compared with
	CPURatio float64 // CPUUs / Base's CPUUs
	CmdRatio float64 // CmdUs / Base's CmdUs
	// ScriptVsSet is ScriptUs over the commandstats time of a raw SET of
	// the same run (0: no script).
	ScriptVsSet float64
	Top         string // the commands that took the most time, per operation
	Note        string
	Measured    bool
}

// ColdRow is one adapter's cold fleet: Nodes nodes reading Zipf keys from
// an empty Redis until their L1 hit rate reaches 90%.
type ColdRow struct {
	Adapter     string
	Nodes       int
	Workers     int // goroutines in all
	Keys        int // key space
	Reads       int64
	To90        time.Duration // time to the first interval with a 90% L1 hit rate (0: not reached)
	Reached     bool
	Elapsed     time.Duration // time measured (To90, or Config.ColdMax)
	FinalL1     float64       // L1 hit rate of the last interval
	Loads       int64         // loader calls
	KeysRead    int64         // distinct keys read
	LoadsPerKey float64       // Loads / KeysRead
	PeakOps     float64       // Redis commands per second, highest interval (commands inside scripts included)
	PeakCPU     float64       // Redis CPU time per second, highest interval (1 = one core)
	RedisCPU    time.Duration // Redis CPU time over the run
	RedisCmds   int64         // Redis commands over the run
	WorstRead   time.Duration
	P99         time.Duration
	Errors      int64
	Curve       []ColdPoint // L1 hit rate per interval
	Note        string
	Measured    bool
}

// ColdPoint is one interval of the cold workload.
type ColdPoint struct {
	At     time.Duration // end of the interval, from the start
	L1     float64       // L1 hit rate in the interval
	OpsSec float64       // Redis commands per second in the interval
}
