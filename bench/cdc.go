package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/pgtest"
	"github.com/matroska-go/matroska/internal/workload"
	"github.com/matroska-go/matroska/tiered"
)

// WCDC is the workload of contrib/pgcdc: invalidation from PostgreSQL's
// commit log. It runs in this module, which may depend on pgcdc and pgx,
// and not in internal/workload, which may not.
const WCDC = "cdc"

// Workloads lists every workload of the command: the harness's, then cdc.
func Workloads() []string { return append(slices.Clone(workload.AllWorkloads), WCDC) }

// CDCConfig sizes the cdc workload. Zero fields take the defaults of a full
// run, or of a quick one (workload.Config.Quick).
type CDCConfig struct {
	Rounds  int // commits measured per path, commit to eviction (full: 200, quick: 50)
	Changes int // row changes committed for the consumer's rate (full: 20000, quick: 3000)
	Conns   int // connections committing them (8)
	Rows    int // rows they update in turn (1000)
}

func (c CDCConfig) withDefaults(quick bool) CDCConfig {
	d := CDCConfig{Rounds: 200, Changes: 20000, Conns: 8, Rows: 1000}
	if quick {
		d.Rounds, d.Changes = 50, 3000
	}
	for _, x := range []struct{ v, def *int }{
		{&c.Rounds, &d.Rounds}, {&c.Changes, &d.Changes}, {&c.Conns, &d.Conns}, {&c.Rows, &d.Rows},
	} {
		if *x.v <= 0 {
			*x.v = *x.def
		}
	}
	return c
}

// CDCResults are the figures of the cdc workload, in results.json under
// Extensions.cdc.
type CDCResults struct {
	Skipped string `json:",omitempty"` // why the workload did not run (no PostgreSQL), or ""
	Config  CDCConfig
	Paths   []CDCPath // commit to eviction: through the log, through the application
	Rate    CDCRate   // the consumer's sustained rate
}

// CDCPath is the commit-to-eviction latency of one path: from the return of
// the COMMIT that changes a row another node holds in L1 to the moment that
// node's L1 stops serving it.
type CDCPath struct {
	Path     string // "commit log" (the consumer invalidates) or "application" (Invalidate after the COMMIT)
	Rounds   int
	Timeouts int // rounds in which the node still served the row after 5 s
	P50      time.Duration
	P99      time.Duration
	Max      time.Duration
}

// CDCRate is the rate at which the consumer turns committed row changes
// into invalidations while Conns connections commit single-row updates as
// fast as they can.
type CDCRate struct {
	Changes       int
	Conns         int
	Committed     time.Duration // from the first commit to the last
	Took          time.Duration // from the first commit to the consumer's invalidation of the last
	CommitsPerSec float64       // the writers' rate
	RowsPerSec    float64       // the consumer's rate: Changes / Took
	Invalidations uint64        // Invalidate calls the consumer made for them
}

// WriteMarkdown writes the section "Invalidation from the commit log".
func (r *CDCResults) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("## Invalidation from the commit log\n\n")
	if r.Skipped != "" {
		fmt.Fprintf(&b, "Skipped: %s\n\n", r.Skipped)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "contrib/pgcdc on a private PostgreSQL (wal_level=logical; the writing sessions SET synchronous_commit = on, as a production server commits). Commit to eviction: another node holds a row in L1; the time from the return of the COMMIT that updates it to that node's eviction, through the commit log (the consumer invalidates) and through the application (Invalidate after the COMMIT), %d commits each. Rate: %d connections commit %d single-row updates over %d rows as fast as they can; the consumer's rate is from the first commit to its invalidation of the last.\n\n",
		r.Config.Rounds, r.Config.Conns, r.Config.Changes, r.Config.Rows)
	b.WriteString("| path | commits | p50 | p99 | max | timeouts (5 s) |\n|---|---|---|---|---|---|\n")
	for _, p := range r.Paths {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %d |\n", p.Path, p.Rounds, usec(p.P50), usec(p.P99), usec(p.Max), p.Timeouts)
	}
	b.WriteString("\n| consumer | row changes | connections | commits/s | invalidated rows/s | Invalidate calls |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| pgcdc | %d | %d | %.0f | %.0f | %d |\n\n", r.Rate.Changes, r.Rate.Conns, r.Rate.CommitsPerSec, r.Rate.RowsPerSec, r.Rate.Invalidations)
	_, err := io.WriteString(w, b.String())
	return err
}

func usec(d time.Duration) string {
	if d >= time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// quiet is the logger of the workload's nodes and consumer.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// runCDC runs the cdc workload on a private PostgreSQL and the Redis of
// opts, under namespace ns. A PostgreSQL that cannot start skips it (the
// reason in Skipped); any other failure is an error.
func runCDC(ctx context.Context, cfg CDCConfig, opts *redis.Options, ns string, prog *workload.Progress) (*CDCResults, error) {
	res := &CDCResults{Config: cfg}
	prog.Begin(4)
	defer prog.End()
	prog.Step("start PostgreSQL", "pgcdc")
	pg, err := pgtest.Launch()
	if err != nil {
		res.Skipped = err.Error()
		return res, nil
	}
	defer pg.Stop()
	dsn, err := pg.CreateDatabase("matroska_bench")
	if err != nil {
		return res, err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	defer func() { _ = workload.DeleteNamespace(context.Background(), rdb, ns) }()
	w := &cdcWorld{ctx: ctx, rdb: rdb, ns: ns}
	defer w.close()

	db, err := w.dial(dsn)
	if err != nil {
		return res, err
	}
	for _, sql := range []string{
		`CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL)`,
		fmt.Sprintf(`INSERT INTO items SELECT g, '' FROM generate_series(1, %d) g`, cfg.Rows),
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			return res, fmt.Errorf("%s: %w", sql, err)
		}
	}
	writer, reader, feeder := w.node("writer"), w.node("reader"), w.node("feeder")
	if err := errors.Join(w.err...); err != nil {
		return res, err
	}

	prog.Step(fmt.Sprintf("commit to eviction x%d, application", cfg.Rounds), "pgcdc")
	app, err := evictions(ctx, cfg.Rounds, db, reader, func() error {
		return writer.Invalidate(ctx, deps.Id("items", int64(1)))
	})
	app.Path = "application"
	res.Paths = []CDCPath{app}
	if err != nil {
		return res, fmt.Errorf("application path: %w", err)
	}

	// The consumer starts after the application's rounds, so that it
	// invalidates nothing of theirs (its slot begins when it is created).
	consumer, stop, err := startConsumer(ctx, dsn, feeder)
	if err != nil {
		return res, err
	}
	defer stop()
	prog.Step(fmt.Sprintf("commit to eviction x%d, commit log", cfg.Rounds), "pgcdc")
	viaLog, err := evictions(ctx, cfg.Rounds, db, reader, nil)
	viaLog.Path = "commit log"
	res.Paths = []CDCPath{viaLog, app}
	if err != nil {
		return res, fmt.Errorf("commit log path: %w", err)
	}

	prog.Step(fmt.Sprintf("consumer rate, %d changes", cfg.Changes), "pgcdc")
	res.Rate, err = rate(ctx, cfg, w, dsn, consumer)
	return res, err
}

// cdcWorld holds what the workload opened, to close it at the end.
type cdcWorld struct {
	ctx    context.Context
	rdb    *redis.Client
	ns     string
	conns  []*pgx.Conn
	caches []*tiered.Cache
	err    []error
}

func (w *cdcWorld) dial(dsn string) (*pgx.Conn, error) {
	c, err := pgx.Connect(w.ctx, dsn)
	if err != nil {
		return nil, err
	}
	w.conns = append(w.conns, c)
	// Commit as a production server does: the private server commits
	// asynchronously (for the tests' speed), which leaves a commit
	// unflushed, and unseen by the log, for up to wal_writer_delay.
	if _, err := c.Exec(w.ctx, `SET synchronous_commit = on`); err != nil {
		return nil, err
	}
	return c, nil
}

func (w *cdcWorld) node(id string) *tiered.Cache {
	c, err := tiered.New(tiered.Config{Redis: w.rdb, Namespace: w.ns, NodeID: id, Logger: quiet})
	if err != nil {
		w.err = append(w.err, err)
		return nil
	}
	w.caches = append(w.caches, c)
	return c
}

func (w *cdcWorld) close() {
	for _, c := range w.caches {
		_ = c.Close()
	}
	for _, c := range w.conns {
		_ = c.Close(context.Background())
	}
}

// startConsumer runs a consumer of the table items that invalidates
// through node inv, and waits until it streams.
func startConsumer(ctx context.Context, dsn string, inv *tiered.Cache) (*pgcdc.Consumer, func(), error) {
	c, err := pgcdc.New(pgcdc.Config{
		Conn:        dsn,
		Invalidator: inv,
		Tables:      map[string]pgcdc.Table{"items": {}},
		RetryMin:    10 * time.Millisecond,
		RetryMax:    100 * time.Millisecond,
		LockPoll:    20 * time.Millisecond,
		Logger:      quiet,
	})
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(cctx)
	}()
	stop := func() { cancel(); <-done }
	if err := poll(ctx, 30*time.Second, func() bool { return c.Stats().Active }); err != nil {
		stop()
		return nil, nil, fmt.Errorf("the consumer does not stream: %w (last error: %v)", err, c.Stats().LastError)
	}
	return c, stop, nil
}

// evictions measures rounds of commit to eviction: reader holds item 1 in
// L1; db commits an update of it; after (when not nil) runs after the
// COMMIT returns; the time runs until reader's L1 stops serving it.
func evictions(ctx context.Context, rounds int, db *pgx.Conn, reader *tiered.Cache, after func() error) (CDCPath, error) {
	p := CDCPath{Rounds: rounds}
	lat := make([]time.Duration, 0, rounds)
	const key = "item:1"
	read := func() error {
		_, err := matroska.GetOrLoad(ctx, reader, key, func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			var title string
			err := db.QueryRow(ctx, `SELECT title FROM items WHERE id = 1`).Scan(&title)
			rec.Depend(deps.Id("items", int64(1)))
			return title, err
		})
		return err
	}
	for i := range rounds {
		var rerr error
		if err := poll(ctx, 5*time.Second, func() bool {
			rerr = read()
			return rerr != nil || reader.InL1(key)
		}); err != nil || rerr != nil {
			return p, fmt.Errorf("the row does not stay in L1: %w", errors.Join(err, rerr))
		}
		if _, err := db.Exec(ctx, `UPDATE items SET title = $1 WHERE id = 1`, fmt.Sprint(i)); err != nil {
			return p, err
		}
		committed := time.Now()
		if after != nil {
			if err := after(); err != nil {
				return p, err
			}
		}
		if poll(ctx, 5*time.Second, func() bool { return !reader.InL1(key) }) != nil {
			if ctx.Err() != nil {
				return p, ctx.Err()
			}
			p.Timeouts++
			continue
		}
		lat = append(lat, time.Since(committed))
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		p.P50, p.P99, p.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return p, nil
}

// rate measures the consumer's sustained rate: cfg.Conns connections
// commit cfg.Changes single-row updates as fast as they can.
func rate(ctx context.Context, cfg CDCConfig, w *cdcWorld, dsn string, c *pgcdc.Consumer) (CDCRate, error) {
	r := CDCRate{Changes: cfg.Changes, Conns: cfg.Conns}
	conns := make([]*pgx.Conn, cfg.Conns)
	for i := range conns {
		var err error
		if conns[i], err = w.dial(dsn); err != nil {
			return r, err
		}
	}
	before := c.Stats()
	began := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for n, cn := range conns {
		wg.Go(func() {
			for i := n; i < cfg.Changes; i += len(conns) {
				if _, err := cn.Exec(ctx, `UPDATE items SET title = $1 WHERE id = $2`, fmt.Sprint(i), 1+i%cfg.Rows); err != nil {
					errs[n] = err
					return
				}
			}
		})
	}
	wg.Wait()
	r.Committed = time.Since(began)
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	if err := poll(ctx, 2*time.Minute, func() bool { return c.Stats().Rows-before.Rows >= uint64(cfg.Changes) }); err != nil {
		return r, fmt.Errorf("the consumer invalidated %d of %d changes: %w", c.Stats().Rows-before.Rows, cfg.Changes, err)
	}
	r.Took = time.Since(began)
	r.Invalidations = c.Stats().Invalidations - before.Invalidations
	r.CommitsPerSec = float64(cfg.Changes) / r.Committed.Seconds()
	r.RowsPerSec = float64(cfg.Changes) / r.Took.Seconds()
	return r, nil
}

// errTimeout is poll's error when its condition stays false.
var errTimeout = errors.New("timed out")

// poll calls cond every 20 µs until it is true, ctx ends or limit passes.
func poll(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(20 * time.Microsecond)
	}
	return nil
}
