// Command matroska is the command-line tool of Matroska for Go.
//
//	matroska demo    several in-process nodes share one Redis: GetOrLoad,
//	                 then an invalidation crossing them, printed as it happens
//	matroska bench   the benchmark workloads (L1 hit, L2 hit, miss,
//	                 propagation, a large invalidation, stampede, mixed,
//	                 memory) for this library and the raw Ristretto and
//	                 go-redis baselines, as a Markdown table
//	matroska inspect key K | dep D
//	                 an entry (its dependencies, whether each indexes it,
//	                 its TTL) or the entries that depend on D
//	matroska invalidate D...
//	                 invalidates dependencies from the shell
//	matroska stats   the namespace's sequence, log, entry, dependency and
//	                 tombstone counts, subscribers and memory, and the
//	                 reports of its feeds (contrib/pgcdc's consumers)
//	matroska watch   prints invalidations as the bus carries them, and the
//	                 feeds' reports every -feeds (a dead or stuck consumer
//	                 loudly)
//
// inspect, invalidate, stats and watch take -redis (a redis:// URL or
// host:port; default $REDIS_URL, else 127.0.0.1:6379) and -namespace
// (default "matroska"), before or after their arguments.
//
// The demo uses $REDIS_URL when it is set, else starts a private
// redis-server when one is installed, else runs in one-process mode and
// says so.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h: the flags were printed
			return
		}
		fmt.Fprintln(os.Stderr, "matroska:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		usage(out)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "demo":
		return demo(out)
	case "bench":
		return bench(args[1:], out)
	case "inspect":
		return inspect(context.Background(), args[1:], out)
	case "invalidate":
		return invalidateCmd(context.Background(), args[1:], out)
	case "stats":
		return stats(context.Background(), args[1:], out)
	case "watch":
		return watch(context.Background(), args[1:], out)
	case "help", "-h", "--help":
		usage(out)
		return nil
	}
	usage(out)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: matroska <command>

commands:
  demo   three in-process nodes on one Redis ($REDIS_URL, else a private
         redis-server, else one-process mode): GetOrLoad, then an
         invalidation crossing the nodes, printed as it happens
  bench  [-redis addr] [-namespace ns] [-duration d] [-nodes n] [-out dir]
         [-quick] [-workloads list]
         the benchmark workloads against a Redis of your choosing ($REDIS_URL,
         else a private redis-server): this library and the raw Ristretto
         and go-redis baselines; a Markdown table on stdout (and in
         dir/results.md). Peers (rueidis, go-redis/cache) and plots: the
         bench module (cd bench && go run ./cmd/matroska-bench)

operators' commands, each with [-redis addr] [-cluster] [-namespace ns]:
  inspect key <key>      the entry, its dependencies (indexed or not), TTL
  inspect dep <dep>      the entries that depend on <dep> (e.g. id:article:7)
  invalidate <dep>...    invalidates from the shell; every node drops them
  stats                  sequence, log, entries, dependencies, tombstones,
                         subscribers, memory, feeds' reports
  watch [-count n] [-feeds 5s]
                         prints invalidations as the bus carries them, and
                         the feeds' reports (lag, rate, last error) every 5s

  -redis addr     a redis:// or rediss:// URL, host:port, or host:port,...
                  of a cluster; default $REDIS_URL, else 127.0.0.1:6379
  -cluster        the address is one seed of a Redis Cluster
  -namespace ns   the cache's namespace (tiered.Config.Namespace); default
                  "matroska"
  Flags may come before or after the arguments; "--" ends them (for a key
  that starts with '-').`)
}
