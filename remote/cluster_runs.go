package remote

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Lost history on Redis Cluster (G11).
//
// A master that restarts from a snapshot, or a replica that takes over
// after lagging, holds an older state of its slots than the nodes saw: the
// deletes and tombstones of the last invalidations are gone, and entries
// they deleted are back. The sequence lives in the control slot only, so a
// data master's loss shows in no number. What shows is the process: every
// Redis process has a run id of its own, and the process that took over
// (or came back) is not the one that served the epoch.
//
// So an epoch has a registry of the master processes it runs on,
// {N}:runs. The nodes fill it once (register: every master's run id, read
// with INFO) when the epoch has none; the control scripts start a new
// epoch when the control master's run id is not in a non-empty registry;
// and every script that reads or indexes an entry in a data slot answers
// with the run id of its master, which the node checks against the
// registry (vouch). A process that the registry does not hold starts a new
// epoch (rotate), with every master's current run id as its registry: from
// then on every older entry reads as a miss (its header carries its epoch)
// and every put marked before is refused. The nodes also compare every
// master's run id with the registry at each State (the bus's heartbeat), so
// a failover is noticed even where nothing is read.
//
// A registry that is still empty vouches for nothing and refuses nothing:
// between the start of an epoch and the first State after it, a master
// restart would go unnoticed. An epoch starts empty of entries, so only
// what was written in that moment is at stake.

// runRegistry is the registry of one epoch as this node last read it.
type runRegistry struct {
	epoch string
	runs  []string
}

// masterWalker is a client that can reach every master (a
// *redis.ClusterClient).
type masterWalker interface {
	ForEachMaster(ctx context.Context, fn func(ctx context.Context, client *redis.Client) error) error
}

// vouch reports whether run, the process that answered a data-slot script
// for an entry or a put of epoch, belongs to epoch. When it does not, it
// starts a new epoch (another node may have done so already) and reports
// false: the caller treats what it read as a miss, or refuses its put.
func (c *clusterStore) vouch(ctx context.Context, epoch, run string) (bool, error) {
	if r := c.reg.Load(); r != nil && r.epoch == epoch && slices.Contains(r.runs, run) {
		return true, nil
	}
	reg, err := c.registry(ctx, "register", epoch)
	if err != nil {
		return false, err
	}
	switch {
	case reg.epoch != epoch:
		return false, nil // the epoch has changed already
	case len(reg.runs) == 0, slices.Contains(reg.runs, run):
		return true, nil
	}
	_, err = c.registry(ctx, "rotate", epoch)
	return false, err
}

// checkMasters compares the run id of every master with the registry of
// epoch (registering them when it has none) and starts a new epoch when
// one is not in it. It reports whether the epoch is still current.
func (c *clusterStore) checkMasters(ctx context.Context, epoch string) (bool, error) {
	runs, err := c.masterRuns(ctx)
	if err != nil || runs == nil {
		return true, err
	}
	r := c.reg.Load()
	if r == nil || r.epoch != epoch || len(r.runs) == 0 {
		if r, err = c.runsCall(ctx, "register", epoch, runs); err != nil {
			return false, err
		}
		if r.epoch != epoch {
			return false, nil
		}
	}
	for _, run := range runs {
		if !slices.Contains(r.runs, run) {
			_, err := c.runsCall(ctx, "rotate", epoch, runs)
			return false, err
		}
	}
	return true, nil
}

// registry runs the registry script with op ("register" or "rotate") for
// epoch, with the run ids of every master, and returns the registry as it
// is afterwards (of whichever epoch is current then).
func (c *clusterStore) registry(ctx context.Context, op, epoch string) (*runRegistry, error) {
	runs, err := c.masterRuns(ctx)
	if err != nil {
		return nil, err
	}
	return c.runsCall(ctx, op, epoch, runs)
}

func (c *clusterStore) runsCall(ctx context.Context, op, epoch string, runs []string) (*runRegistry, error) {
	args := make([]any, 0, 3+len(runs))
	args = append(args, op, epoch, newEpoch())
	for _, r := range runs {
		args = append(args, r)
	}
	res, err := c.sc.runs.Run(ctx, c.rdb, c.k.control(), args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("remote: %s the masters: %w", op, err)
	}
	if len(res) < 2 {
		return nil, fmt.Errorf("%w: the registry script answered %v", ErrState, res)
	}
	reg := &runRegistry{epoch: res[1], runs: res[2:]}
	c.reg.Store(reg)
	return reg, nil
}

// masterRuns returns the run id of every master, nil when the client
// cannot reach each master (a wrapper without ForEachMaster: then the
// registry stays empty and data masters are not checked).
func (c *clusterStore) masterRuns(ctx context.Context) ([]string, error) {
	w, ok := c.rdb.(masterWalker)
	if !ok {
		return nil, nil
	}
	var mu sync.Mutex
	var runs []string
	err := w.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := m.Info(ctx, "server").Result()
		if err != nil {
			return err
		}
		run := runID(info)
		if run == "" {
			return fmt.Errorf("%w: no run_id in INFO server of %s", ErrState, m.Options().Addr)
		}
		mu.Lock()
		runs = append(runs, run)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remote: the masters' run ids: %w", err)
	}
	slices.Sort(runs)
	return runs, nil
}

// runID reads run_id from the text of INFO server.
func runID(info string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "run_id:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
