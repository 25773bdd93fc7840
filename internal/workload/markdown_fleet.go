package workload

import (
	"fmt"
	"strings"
)

// writeFleet writes the tables of the fleet, redis-cost and cold
// workloads.
func (res *Results) writeFleet(b *strings.Builder) {
	c := res.Config
	if len(res.Fleet) > 0 {
		fmt.Fprintf(b, "## Fleet invalidations\n\n"+
			"N nodes in this process, each holding %d keys in L1; %d writer goroutines (spread over the nodes) invalidate those keys at each rate in turn, for %v each, until a step is not sustained: propagation p99 over %v, an error, a sample over 2 s, or less than %.0f%% of the rate achieved. "+
			"A key invalidated again before anyone re-read it is in no L1: this library still broadcasts every invalidation to every node, which applies it; rueidis's tracking sends it to no client (none read the key since). "+
			"Meanwhile one goroutine samples propagation on keys of its own (every node reads the key, one node invalidates it, every node's L1 is polled): from Invalidate's return to the last node's eviction; its reads are in Redis's figures. "+
			"Redis CPU is INFO used_cpu_user + used_cpu_sys, per second (1 = one core) and per invalidation; EVALSHA µs is commandstats. Published is PUBLISH calls per second (commandstats, inside scripts); delivered is bus messages received per second by all nodes together (n/o: not observable). "+
			"Node CPU is this process's CPU time (getrusage: every node, the writers, the sampler, the runtime) divided by the node count: per second (1 = one core) and per invalidation.\n\n",
			c.FleetHotKeys, fleetWriters, c.FleetStep, fleetP99, 100*fleetAchieved)
		table(b, []string{"cache", "nodes", "rate asked", "achieved/s", "samples", "p50", "p99", "max", "Redis CPU", "Redis µs/inv", "EVALSHA µs/inv", "published/s", "delivered/s", "node CPU", "node µs/inv", "sustained", "top Redis commands per invalidation"})
		for _, r := range res.Fleet {
			if !r.Measured {
				row(b, r.Adapter, fmt.Sprint(r.Nodes), fmt.Sprint(r.Rate), "", "", "", "", "", "", "", "", "", "", "", "", "", r.Note)
				continue
			}
			sus := yes(r.Sustained)
			if r.Errors > 0 || r.Timeouts > 0 {
				sus += fmt.Sprintf(" (%d errors, %d timeouts)", r.Errors, r.Timeouts)
			}
			row(b, r.Adapter, fmt.Sprint(r.Nodes), fmt.Sprint(r.Rate), f0(r.Achieved), fmt.Sprint(r.Samples), dur(r.P50), dur(r.P99), dur(r.Max),
				f2(r.RedisCPU), f1(r.RedisUsInv), f1(r.ScriptUsInv), rate(r.Published), rate(r.Delivered), f3(r.NodeCPU), f1(r.NodeUsInv), sus, r.Top)
		}
		b.WriteString("\n")
		best := res.FleetBest
		if len(best) == 0 {
			best = fleetBest(res.Fleet)
		}
		b.WriteString("Highest sustained invalidation rate:\n\n")
		table(b, []string{"cache", "nodes", "highest sustained step", "achieved/s", "stopped at", "why"})
		for _, x := range best {
			hi, stop := "none", "not stopped"
			if x.Rate > 0 {
				hi = fmt.Sprint(x.Rate)
			}
			if x.StoppedAt > 0 {
				stop = fmt.Sprint(x.StoppedAt)
			}
			row(b, x.Adapter, fmt.Sprint(x.Nodes), hi, f0(x.Achieved), stop, x.StoppedBy)
		}
		b.WriteString("\n")
	}
	if len(res.Cost) > 0 {
		fmt.Fprintf(b, "## Redis CPU per operation\n\n"+
			"One path after the other, one goroutine, %d operations each (invalidations: %d per dependency count, at least 3), against raw go-redis in the same run. "+
			"CPU is Redis's used_cpu_user + used_cpu_sys per operation (what one Redis core spends, its network and parsing included); commandstats µs is the time INFO commandstats counts in the commands the client sent (an EVALSHA includes the commands its script calls); commands/op counts those inside scripts too. "+
			"Misses put keys in no tier with 1, 5 or 50 dependencies (the item's, then dependencies of no other entry); the L2 hit reads, on another node, what the one-dependency misses put; the invalidated dependency's dependents depend on nothing else. "+
			"The ratio columns compare with the raw equivalent (L2 hit: GET; miss and put: GET + SET; invalidation: DEL); EVALSHA vs SET is the script's commandstats time per call over a SET's.\n\n",
			c.CostOps, c.CostOps/10)
		table(b, []string{"path", "cache", "ops", "Redis CPU/op", "vs raw", "commandstats µs/op", "vs raw", "commands/op", "EVALSHA/op", "µs/EVALSHA", "EVALSHA vs SET", "top commands (calls/op x µs/call)", "note"})
		for _, r := range res.Cost {
			if !r.Measured {
				row(b, r.Path, r.Adapter, "", "", "", "", "", "", "", "", "", "", r.Note)
				continue
			}
			vs := func(x float64) string {
				if x == 0 {
					return ""
				}
				return fmt.Sprintf("%.1fx %s", x, r.Base)
			}
			sc, scUs, scSet := "", "", ""
			if r.Scripts > 0 {
				sc, scUs = f2(r.Scripts), f1(r.ScriptUs)
			}
			if r.ScriptVsSet > 0 {
				scSet = fmt.Sprintf("%.1fx", r.ScriptVsSet)
			}
			row(b, r.Path, r.Adapter, fmt.Sprint(r.Ops), f1(r.CPUUs)+" µs", vs(r.CPURatio), f2(r.CmdUs), vs(r.CmdRatio), f1(r.Calls), sc, scUs, scSet, r.Top, r.Note)
		}
		b.WriteString("\n")
	}
	if len(res.Cold) > 0 {
		fmt.Fprintf(b, "## Cold fleet\n\n"+
			"%d nodes start on a namespace with nothing in Redis (as after a deploy, a FLUSHALL or a failover) and %d goroutines per node read keys drawn by Zipf (s = %.2f) over %d keys, back to back; the loader takes %v. "+
			"Every %v: the nodes' L1 hit rate in that interval, and Redis's commands (inside scripts included) and CPU per second (INFO); the run ends at the first interval with a %.0f%% L1 hit rate, or after %v. "+
			"Loader calls per key are over the distinct keys read; p99 is over one read in %d.\n\n",
			c.ColdNodes, c.ColdWorkers, c.ZipfS, c.ColdKeys, c.MixedLoad, coldTick, 100*coldTarget, c.ColdMax, coldSample)
		table(b, []string{"cache", "nodes", "time to 90% L1", "reads", "keys read", "loader calls", "calls/key", "Redis peak cmds/s", "Redis peak CPU", "Redis CPU total", "Redis cmds total", "p99 read", "worst read", "note"})
		for _, r := range res.Cold {
			if !r.Measured {
				row(b, r.Adapter, fmt.Sprint(r.Nodes), "", "", "", "", "", "", "", "", "", "", "", r.Note)
				continue
			}
			to := "not reached"
			if r.Reached {
				to = dur(r.To90)
			}
			row(b, r.Adapter, fmt.Sprint(r.Nodes), to, fmt.Sprint(r.Reads), fmt.Sprint(r.KeysRead), fmt.Sprint(r.Loads), f2(r.LoadsPerKey),
				f0(r.PeakOps), f2(r.PeakCPU), dur(r.RedisCPU), fmt.Sprint(r.RedisCmds), dur(r.P99), dur(r.WorstRead), r.Note)
		}
		b.WriteString("\n")
	}
}

// rate formats a per-second figure; negative means not observable.
func rate(x float64) string {
	if x < 0 {
		return "n/o"
	}
	return f0(x)
}
