package workload

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// serverStats is one reading of the server's CPU time and command counters
// (INFO cpu, stats and commandstats, read in one call).
type serverStats struct {
	cpu  float64            // used_cpu_user + used_cpu_sys, in seconds
	cmds int64              // total_commands_processed (commands inside scripts included)
	per  map[string]cmdStat // commandstats by command name ("get", "evalsha")
}

// cmdStat is one command's line of INFO commandstats.
type cmdStat struct {
	Calls int64 // calls, inside scripts included
	Usec  int64 // microseconds spent in them; a script's calls count in its EVALSHA too
}

// readServer reads the server's CPU time and command counters.
func readServer(ctx context.Context, rdb *redis.Client) (serverStats, error) {
	s, err := rdb.Info(ctx, "cpu", "stats", "commandstats").Result()
	if err != nil {
		return serverStats{}, err
	}
	return parseServer(s)
}

// parseServer parses the INFO text of readServer.
func parseServer(info string) (serverStats, error) {
	st := serverStats{per: map[string]cmdStat{}}
	var user, sys, total bool
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_user" || k == "used_cpu_sys":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return st, fmt.Errorf("workload: INFO %s: %w", k, err)
			}
			st.cpu += f
			user, sys = user || k == "used_cpu_user", sys || k == "used_cpu_sys"
		case k == "total_commands_processed":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return st, fmt.Errorf("workload: INFO %s: %w", k, err)
			}
			st.cmds, total = n, true
		case strings.HasPrefix(k, "cmdstat_"):
			var c cmdStat
			for _, f := range strings.Split(v, ",") {
				name, num, _ := strings.Cut(f, "=")
				switch name {
				case "calls":
					c.Calls, _ = strconv.ParseInt(num, 10, 64)
				case "usec":
					c.Usec, _ = strconv.ParseInt(num, 10, 64)
				}
			}
			st.per[strings.TrimPrefix(k, "cmdstat_")] = c
		}
	}
	if !user || !sys || !total {
		return st, fmt.Errorf("workload: INFO lacks used_cpu_user, used_cpu_sys or total_commands_processed")
	}
	return st, nil
}

// serverDelta is what the server did between two readings, the INFO calls
// that read them left out.
type serverDelta struct {
	cpu  time.Duration
	cmds int64
	per  map[string]cmdStat
}

// since returns what the server did from a to s.
func (s serverStats) since(a serverStats) serverDelta {
	d := serverDelta{cpu: time.Duration((s.cpu - a.cpu) * float64(time.Second)), cmds: s.cmds - a.cmds - 1, per: map[string]cmdStat{}}
	for name, c := range s.per {
		if name == "info" {
			continue
		}
		if c.Calls -= a.per[name].Calls; c.Calls > 0 {
			c.Usec -= a.per[name].Usec
			d.per[name] = c
		}
	}
	return d
}

// usec is the time commandstats counts in the named commands.
func (d serverDelta) usec(names ...string) int64 {
	var n int64
	for _, name := range names {
		n += d.per[name].Usec
	}
	return n
}

// calls is the number of calls of the named commands.
func (d serverDelta) calls(names ...string) int64 {
	var n int64
	for _, name := range names {
		n += d.per[name].Calls
	}
	return n
}

// top describes the commands that took the most time, per operation of
// ops: "evalsha 1.00 x 13.9 µs, mget ...", at most n of them.
func (d serverDelta) top(ops, n int) string {
	names := make([]string, 0, len(d.per))
	for name := range d.per {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := d.per[names[i]], d.per[names[j]]
		return a.Usec > b.Usec || a.Usec == b.Usec && names[i] < names[j]
	})
	var parts []string
	for _, name := range names[:min(n, len(names))] {
		c := d.per[name]
		parts = append(parts, fmt.Sprintf("%s %.2f x %.2f µs", name, float64(c.Calls)/float64(max(ops, 1)), float64(c.Usec)/float64(c.Calls)))
	}
	return strings.Join(parts, ", ")
}
