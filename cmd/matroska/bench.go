package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/internal/workload"
)

// bench runs the benchmark workloads for this library and the raw
// baselines (Ristretto, go-redis) against a Redis of the user's choosing.
func bench(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("redis", "", "Redis address (host:port or redis:// URL); default $REDIS_URL, else a private redis-server")
	namespace := fs.String("namespace", "", "prefix of every key written (deleted afterwards); default a random one")
	duration := fs.Duration("duration", 0, "measured time of each L1 hit run and of the mixed run (default 2s and 10s; quick 0.3s and 2s)")
	nodes := fs.Int("nodes", 0, "nodes of the propagation and stampede workloads (default 8), and the one fleet size of the fleet and cold workloads (default 8, 32 and 64, and 64; quick 8 and 16, and 8)")
	outDir := fs.String("out", "", "directory to write results.md into (the table goes to stdout too)")
	quick := fs.Bool("quick", false, "small sizes: about half a minute")
	only := fs.String("workloads", "", "comma-separated workloads to run (default all): "+strings.Join(workload.AllWorkloads, ","))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
	}
	cfg := workload.Config{Quick: *quick, HitDuration: *duration, MixedDuration: *duration, Nodes: *nodes, ColdNodes: *nodes}
	if *nodes > 0 {
		cfg.FleetNodes = []int{*nodes}
	}
	if *only != "" {
		cfg.Workloads = strings.Split(*only, ",")
	}
	if *namespace == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		*namespace = "matroska-bench-" + hex.EncodeToString(b[:])
	}
	opts, where, stop, err := benchRedis(*addr)
	if err != nil {
		return err
	}
	defer stop()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	fmt.Fprintf(os.Stderr, "redis: %s, namespace %q\n", where, *namespace)
	prog := workload.NewProgress(os.Stderr, isTerminal(os.Stderr))
	adapters := []workload.Adapter{
		workload.Matroska{}, workload.Matroska{Closure: true}, workload.Matroska{Lease: true}, workload.Ristretto{}, workload.Ristretto{NoTTL: true}, workload.GoRedis{},
	}
	res, err := workload.Run(ctx, cfg, opts, *namespace, adapters, prog)
	if err != nil {
		return err
	}
	res.Redis = where
	if err := res.WriteMarkdown(out); err != nil {
		return err
	}
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(*outDir, "results.md"))
		if err != nil {
			return err
		}
		if err := res.WriteMarkdown(f); err != nil {
			_ = f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

// benchRedis returns the options of the server to benchmark against: addr
// (an address or a redis:// URL), else $REDIS_URL, else a private
// redis-server stopped by stop.
func benchRedis(addr string) (opts *redis.Options, where string, stop func(), err error) {
	if addr == "" {
		addr = os.Getenv("REDIS_URL")
	}
	return workload.Server(addr)
}

// isTerminal says whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
