package workload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Run runs the workloads of cfg against every adapter on the Redis server
// of opts, under namespace (every key it writes starts with namespace and
// is deleted after each workload), reporting each step to prog (nil for
// none). A workload that fails for one adapter is recorded in
// Results.Errors and the run goes on; Run returns an error only when it
// cannot run at all (bad config, Redis unreachable) or ctx ends.
func Run(ctx context.Context, cfg Config, opts *redis.Options, namespace string, adapters []Adapter, prog *Progress) (*Results, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if namespace == "" {
		return nil, fmt.Errorf("%w: empty namespace", ErrConfig)
	}
	if len(adapters) == 0 {
		return nil, fmt.Errorf("%w: no adapters", ErrConfig)
	}
	ao := *opts
	ao.ContextTimeoutEnabled = true
	ao.ReadTimeout = 30 * time.Second // SLOWLOG and big scans
	admin := redis.NewClient(&ao)
	defer admin.Close()
	if err := admin.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("workload: redis at %s: %w", opts.Addr, err)
	}
	res := &Results{
		Started: time.Now(),
		Config:  cfg,
		Machine: Machine(ctx, admin),
		Redis:   opts.Addr,
	}
	for _, a := range adapters {
		res.Adapters = append(res.Adapters, a.Name())
	}
	r := &runner{cfg: cfg, opts: opts, admin: admin, base: namespace, prog: prog}
	steps := 0
	for _, w := range cfg.Workloads {
		for _, a := range adapters {
			if runsOn(a, w) {
				steps++
				if w == WHit || w == WL2 {
					steps++ // WHit: 1 and GOMAXPROCS goroutines; WL2: back to back and paced
				}
				if w == WHit {
					steps++ // and the warm-up
				}
				if w == WFleet {
					steps += len(cfg.FleetNodes) - 1 // a step per fleet size
				}
			}
		}
	}
	prog.Begin(steps)
	defer prog.End()

	for _, w := range cfg.Workloads {
		switch w {
		case WL2, WMiss:
			// The adapters take turns within one run (see latency).
			if err := r.latencies(ctx, w, adapters, res); err != nil {
				return res, err
			}
			continue
		case WHit:
			// The adapters take turns within one run (see hits).
			if err := r.hits(ctx, adapters, res); err != nil {
				return res, err
			}
			continue
		case WBatch:
			if err := r.batch(ctx, adapters, res); err != nil {
				return res, err
			}
			continue
		case WCodec:
			if err := r.codecs(ctx, adapters, res); err != nil {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", w, err))
			}
			continue
		}
		for _, a := range adapters {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if !runsOn(a, w) {
				continue
			}
			if err := r.one(ctx, w, a, res); err != nil {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				res.Errors = append(res.Errors, fmt.Sprintf("%s / %s: %v", w, a.Name(), err))
			}
		}
	}
	res.FleetBest = fleetBest(res.Fleet)
	res.Elapsed = time.Since(res.Started)
	res.fillRatios()
	return res, nil
}

// runsOn says whether adapter a runs workload w. The codec workload runs
// on this library's adapter and on the peers that are a CodecPeer; the
// fleet workload on caches with cross-node invalidation, the cold one on
// caches with both tiers; redis-cost on this library's adapter, which
// measures raw go-redis itself.
func runsOn(a Adapter, w string) bool {
	f := a.Features()
	switch w {
	case WFleet:
		if !f.CrossNode {
			return false
		}
	case WCold:
		if !f.L1 || !f.L2 {
			return false
		}
	case WCost:
		if _, lib := a.(Matroska); !lib || a.Name() != MatroskaName {
			return false
		}
	}
	if w == WCodec {
		_, lib := a.(Matroska)
		_, peer := a.(CodecPeer)
		if !lib && !peer {
			return false
		}
	}
	l, ok := a.(Limited)
	if !ok || l.Workloads() == nil {
		return true
	}
	for _, x := range l.Workloads() {
		if x == w {
			return true
		}
	}
	return false
}

type runner struct {
	cfg   Config
	opts  *redis.Options
	admin *redis.Client
	base  string
	prog  *Progress
	seq   int
}

func (r *runner) one(ctx context.Context, w string, a Adapter, res *Results) error {
	f := a.Features()
	switch w {
	case WPropagation:
		r.prog.Step(fmt.Sprintf("invalidation to %d nodes", r.cfg.Nodes), a.Name())
		if !f.CrossNode {
			res.Propagation = append(res.Propagation, PropagationRow{Adapter: a.Name(), Nodes: r.cfg.Nodes,
				Note: "no cross-node invalidation: other nodes serve the old value until their L1 TTL"})
			return nil
		}
		row, err := r.propagation(ctx, a)
		res.Propagation = append(res.Propagation, row)
		return err
	case WBigDep:
		r.prog.Step(fmt.Sprintf("invalidate %d dependents", r.cfg.BigDepEntries), a.Name())
		if !f.Deps {
			res.BigDep = append(res.BigDep, BigDepRow{Adapter: a.Name(), Entries: r.cfg.BigDepEntries,
				Note: "no dependency tracking"})
			return nil
		}
		row, err := r.bigDep(ctx, a)
		res.BigDep = append(res.BigDep, row)
		return err
	case WStampede:
		r.prog.Step(fmt.Sprintf("stampede %dx%d", r.cfg.Nodes, r.cfg.StampedeWaiter), a.Name())
		row, err := r.stampede(ctx, a)
		res.Stampede = append(res.Stampede, row)
		return err
	case WMixed:
		r.prog.Step(fmt.Sprintf("mixed, %d nodes", r.cfg.MixedNodes), a.Name())
		row, err := r.mixed(ctx, a)
		res.Mixed = append(res.Mixed, row)
		return err
	case WMemory:
		r.prog.Step("memory per entry", a.Name())
		row, err := r.memory(ctx, a)
		res.Memory = append(res.Memory, row)
		return err
	case WFleet:
		return r.fleet(ctx, a, res)
	case WCost:
		return r.cost(ctx, a, res)
	case WCold:
		r.prog.Step(fmt.Sprintf("cold fleet of %d nodes", r.cfg.ColdNodes), a.Name())
		row, err := r.cold(ctx, a)
		res.Cold = append(res.Cold, row)
		return err
	}
	return fmt.Errorf("%w: unknown workload %q", ErrConfig, w)
}

// latencies runs workload w (WL2 or WMiss) on the adapters that run it, all
// in one latency run, and records their rows and errors.
func (r *runner) latencies(ctx context.Context, w string, adapters []Adapter, res *Results) error {
	var on []Adapter
	for _, a := range adapters {
		if runsOn(a, w) {
			on = append(on, a)
		}
	}
	type pass struct {
		label string
		pace  time.Duration
		rows  *[]LatencyRow
	}
	passes := []pass{{"miss, load and put", 0, &res.Miss}}
	if w == WL2 {
		passes = []pass{
			{"L2 hit (cold L1)", 0, &res.L2},
			{fmt.Sprintf("L2 hit (cold L1), paced %v", r.cfg.Pace), r.cfg.Pace, &res.L2Paced},
		}
	}
	for _, p := range passes {
		got, errs := r.latency(ctx, on, w == WL2, p.pace, func(a Adapter) { r.prog.Step(p.label, a.Name()) })
		*p.rows = append(*p.rows, got...)
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, err := range errs {
			if err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("%s / %s: %v", p.label, on[i].Name(), err))
			}
		}
	}
	return nil
}

// env returns a fresh environment under its own namespace.
func (r *runner) env(src *Source) *Env {
	r.seq++
	return &Env{Redis: r.opts, Namespace: fmt.Sprintf("%s:%d", r.base, r.seq), Source: src, TTL: r.cfg.TTL}
}

// finish deletes the keys of env.
func (r *runner) finish(env *Env) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = cleanup(ctx, r.admin, env.Namespace)
}

// openNodes opens n nodes of a; close closes them all.
func openNodes(ctx context.Context, a Adapter, env *Env, n int) (nodes []Node, closeAll func(), err error) {
	closeAll = func() {
		for _, x := range nodes {
			_ = x.Close()
		}
	}
	for i := 0; i < n; i++ {
		x, err := a.Open(ctx, env)
		if err != nil {
			closeAll()
			return nil, func() {}, fmt.Errorf("open node %d: %w", i, err)
		}
		nodes = append(nodes, x)
	}
	return nodes, closeAll, nil
}

// Machine describes the machine and the server: Go version, cores, CPU
// model, Redis version.
func Machine(ctx context.Context, rdb *redis.Client) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s %s/%s, %d cores (GOMAXPROCS %d), %s, Redis %s",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), cpu, ServerVersion(ctx, rdb))
}

var errTimeout = errors.New("workload: timed out")
