// Command matroska-bench runs the benchmark workloads against Matroska, the
// raw Ristretto and go-redis baselines, go-redis/cache and rueidis, and
// writes results.md (Markdown tables), results.json and PNG plots.
//
//	cd bench && go run ./cmd/matroska-bench [-quick] [-redis addr] [-out dir]
//
// Without -redis it starts a private redis-server (from $REDIS_SERVER or the
// PATH) on a free loopback port. The default output directory is
// results/local/<date>, which .gitignore covers: a run leaves nothing for
// git to track. A run meant for the repository names its directory with
// -out (results/<date>).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/matroska-go/matroska/bench"
	"github.com/matroska-go/matroska/internal/workload"
)

func main() {
	redisAddr := flag.String("redis", "", "Redis address (host:port or redis:// URL); default: a private redis-server")
	out := flag.String("out", defaultOut(time.Now()), "output directory")
	quick := flag.Bool("quick", false, "small sizes: about a minute")
	namespace := flag.String("namespace", "", "prefix of every key written (deleted afterwards)")
	only := flag.String("workloads", "", "comma-separated workloads (default all): "+strings.Join(bench.Workloads(), ","))
	flag.Parse()

	cfg := workload.Config{Quick: *quick}
	if *only != "" {
		cfg.Workloads = strings.Split(*only, ",")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	st, err := os.Stderr.Stat()
	tty := err == nil && st.Mode()&os.ModeCharDevice != 0
	res, files, err := bench.RunAll(ctx, bench.Options{
		Redis: *redisAddr, Namespace: *namespace, Out: *out, Config: cfg,
		Progress: workload.NewProgress(os.Stderr, tty),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "matroska-bench:", err)
		os.Exit(1)
	}
	if err := res.WriteMarkdown(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "matroska-bench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s\n", *out, strings.Join(files, ", "))
}

// defaultOut is the output directory without -out: under results/local/,
// which .gitignore covers, so that a run leaves the checkout clean.
func defaultOut(now time.Time) string {
	return filepath.Join("results", "local", now.Format("2006-01-02"))
}
