package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
)

// Paths of the redis-cost workload (CostRow.Path).
const (
	CostGet  = "GET"
	CostSet  = "SET"
	CostDel  = "DEL"
	CostHit  = "L2 hit"
	CostPut  = "miss + put, %d dependencies" // with more than one; see CostPutPath
	CostInv  = "invalidate 1 dependency, %d dependents"
	costBase = "GET + SET"
)

// costPutDeps and costDependents are the sizes the redis-cost workload
// measures: entries with that many dependencies, dependencies with that
// many dependents.
var (
	costPutDeps    = []int{1, 5, 50}
	costDependents = []int{10, 1000}
)

// cost measures what Redis spends on each operation of this library's
// paths, and on raw go-redis GET, SET and DEL beside them, one path after
// the other, CostOps operations each, one goroutine: Redis's CPU time
// (INFO used_cpu_user + used_cpu_sys) and the time INFO commandstats
// counts in the commands the client sent (a script's EVALSHA includes the
// commands it calls), read around each path.
//
// The raw paths SET CostOps keys (the item, JSON-encoded, with the TTL),
// GET them and DEL them. The paths of this library run on nodes of a:
// misses of keys in no tier whose loader records 1, 5 or 50 dependencies
// (the item's own, then dependencies of no other entry); the L2 hit, a read
// by another node of keys the one-dependency misses put; and invalidations
// of one dependency that 10 or 1000 entries depend on (and on nothing
// else), filled beforehand by 16 goroutines, CostOps/10 and CostOps/100
// invalidations (at least 3).
func (r *runner) cost(ctx context.Context, a Adapter, res *Results) error {
	r.prog.Step("Redis CPU per operation", a.Name())
	src := NewSource(0, 0)
	env := r.env(src)
	env.sent = &sentNames{}
	defer r.finish(env)
	c := &costRun{r: r, env: env, ops: r.cfg.CostOps}

	// Raw go-redis.
	rdb := env.GoRedis()
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil { // the connection's handshake
		return err
	}
	it, err := src.Load(ctx, Key(0))
	if err != nil {
		return err
	}
	val, err := json.Marshal(it)
	if err != nil {
		return err
	}
	rawKey := func(i int) string { return env.RedisKey("raw:" + strconv.Itoa(i)) }
	for _, p := range []struct {
		path string
		op   func(ctx context.Context, i int) error
	}{
		{CostSet, func(ctx context.Context, i int) error { return rdb.Set(ctx, rawKey(i), val, env.TTL).Err() }},
		{CostGet, func(ctx context.Context, i int) error { return rdb.Get(ctx, rawKey(i)).Err() }},
		{CostDel, func(ctx context.Context, i int) error { return rdb.Del(ctx, rawKey(i)).Err() }},
	} {
		row, err := c.measure(ctx, p.path, GoRedisName, c.ops, p.op)
		res.Cost = append(res.Cost, row)
		if err != nil {
			return fmt.Errorf("%s: %w", p.path, err)
		}
	}

	// This library.
	nodes, closeAll, err := openNodes(ctx, a, env, 2)
	if err != nil {
		return err
	}
	defer closeAll()
	w, ok1 := nodes[0].(TieredNode)
	rd, ok2 := nodes[1].(TieredNode)
	if !ok1 || !ok2 {
		res.Cost = append(res.Cost, CostRow{Path: CostPutPath(1), Adapter: a.Name(), Note: "adapter does not expose its tiered.Cache"})
		return nil
	}
	// Warm-up: connections, scripts loaded, the bus synced.
	for i := 0; i < 20; i++ {
		if _, err := c.put(ctx, w, 9_000_000+i, 1); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if _, err := rd.Get(ctx, Key(9_000_000+i)); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	base := 0
	for _, k := range costPutDeps {
		first := base
		row, err := c.measure(ctx, CostPutPath(k), a.Name(), c.ops, func(ctx context.Context, i int) error {
			_, err := c.put(ctx, w, first+i, k)
			return err
		})
		res.Cost = append(res.Cost, row)
		if err != nil {
			return fmt.Errorf("%s: %w", row.Path, err)
		}
		if k == 1 {
			row, err := c.measure(ctx, CostHit, a.Name(), c.ops, func(ctx context.Context, i int) error {
				got, err := rd.Get(ctx, Key(first+i))
				if err == nil && got.ID != first+i {
					err = fmt.Errorf("read %s: got item %d", Key(first+i), got.ID)
				}
				return err
			})
			res.Cost = append(res.Cost, row)
			if err != nil {
				return fmt.Errorf("%s: %w", row.Path, err)
			}
		}
		base += c.ops
	}
	for _, n := range costDependents {
		groups := max(3, c.ops*10/n)
		if err := c.fillGroups(ctx, w, base, groups, n); err != nil {
			return fmt.Errorf("fill %d groups of %d: %w", groups, n, err)
		}
		base += groups * n
		row, err := c.measure(ctx, fmt.Sprintf(CostInv, n), a.Name(), groups, func(ctx context.Context, g int) error {
			return w.Cache().Invalidate(ctx, costGroup(n, g))
		})
		if err == nil {
			row.Note = fmt.Sprintf("%.2f µs of Redis CPU per dependent", row.CPUUs/float64(n))
		}
		res.Cost = append(res.Cost, row)
		if err != nil {
			return fmt.Errorf("%s: %w", row.Path, err)
		}
	}
	costRatios(res.Cost)
	return nil
}

// costRun is the state of one redis-cost run.
type costRun struct {
	r   *runner
	env *Env
	ops int
}

// measure runs op(0..n-1) and reads what the server did meanwhile.
func (c *costRun) measure(ctx context.Context, path, adapter string, n int, op func(ctx context.Context, i int) error) (CostRow, error) {
	row := CostRow{Path: path, Adapter: adapter}
	sent := c.env.sent
	sent.reset()
	s0, err := readServer(ctx, c.r.admin)
	if err != nil {
		return row, err
	}
	mctx := c.env.Measure(ctx)
	for i := 0; i < n; i++ {
		if err := op(mctx, i); err != nil {
			return row, err
		}
	}
	s1, err := readServer(ctx, c.r.admin)
	if err != nil {
		return row, err
	}
	d := s1.since(s0)
	ops := float64(n)
	row.Ops = n
	row.Measured = true
	row.CPUUs = float64(d.cpu.Nanoseconds()) / 1e3 / ops
	row.CmdUs = float64(d.usec(sent.list()...)) / ops
	row.Calls = float64(d.cmds) / ops
	if s := d.calls("evalsha", "eval"); s > 0 {
		row.Scripts = float64(s) / ops
		row.ScriptUs = float64(d.usec("evalsha", "eval")) / float64(s)
	}
	row.Top = d.top(n, 4)
	return row, nil
}

// put reads id's key through node, a miss whose loader records k
// dependencies: the item's own and k-1 that no other entry has.
func (c *costRun) put(ctx context.Context, node TieredNode, id, k int) (Item, error) {
	key := Key(id)
	return matroska.GetOrLoad(ctx, node.Cache(), key, func(ctx context.Context, rec *matroska.Recorder) (Item, error) {
		it, err := c.env.Source.Load(ctx, key)
		rec.Depend(ItemDep(id))
		for j := 1; j < k; j++ {
			rec.Depend(deps.Id("part", strconv.Itoa(id)+"."+strconv.Itoa(j)))
		}
		return it, err
	})
}

// costGroup is the dependency of group g of n dependents.
func costGroup(n, g int) deps.Dep {
	return deps.Id("group"+strconv.Itoa(n), g)
}

// fillGroups puts groups*n entries from id first on, entry i depending on
// costGroup(n, i/n) alone.
func (c *costRun) fillGroups(ctx context.Context, node TieredNode, first, groups, n int) error {
	return fillDeps(ctx, node.Cache(), c.env.Source, first, groups*n, func(i int) []deps.Dep {
		return []deps.Dep{costGroup(n, i/n)}
	})
}

// costRatios compares each path of this library with its raw go-redis
// equivalent: the L2 hit with a GET, a miss and put with a GET and a SET,
// an invalidation with a DEL; and each EVALSHA with a SET.
func costRatios(rows []CostRow) {
	raw := map[string]CostRow{}
	for _, r := range rows {
		if r.Adapter == GoRedisName && r.Measured {
			raw[r.Path] = r
		}
	}
	set, okSet := raw[CostSet]
	for i := range rows {
		r := &rows[i]
		if r.Adapter == GoRedisName || !r.Measured {
			continue
		}
		var cpu, cmd float64
		switch {
		case r.Path == CostHit:
			r.Base, cpu, cmd = CostGet, raw[CostGet].CPUUs, raw[CostGet].CmdUs
		case strings.HasPrefix(r.Path, "miss"):
			r.Base = costBase
			cpu, cmd = raw[CostGet].CPUUs+raw[CostSet].CPUUs, raw[CostGet].CmdUs+raw[CostSet].CmdUs
		default:
			r.Base, cpu, cmd = CostDel, raw[CostDel].CPUUs, raw[CostDel].CmdUs
		}
		if cpu > 0 {
			r.CPURatio = r.CPUUs / cpu
		}
		if cmd > 0 {
			r.CmdRatio = r.CmdUs / cmd
		}
		if okSet && set.CmdUs > 0 && r.ScriptUs > 0 {
			r.ScriptVsSet = r.ScriptUs / set.CmdUs
		}
	}
}

// CostPutPath is the path of a miss and put with k dependencies.
func CostPutPath(k int) string {
	if k == 1 {
		return "miss + put, 1 dependency"
	}
	return fmt.Sprintf(CostPut, k)
}
