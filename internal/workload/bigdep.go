package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// TieredNode is a node that exposes its tiered.Cache: the dependency
// workloads use the library's own API through it.
type TieredNode interface {
	Node
	Cache() *tiered.Cache
}

// slowlogThreshold is the SLOWLOG threshold set during the big invalidation.
const slowlogThreshold = time.Millisecond

// bigDep fills BigDepEntries entries that all depend on one tag, then
// invalidates the tag and measures the call, the longest single Redis call
// (client side, and from SLOWLOG), and the longest PING another client saw
// meanwhile (how long Redis could not serve anyone).
func (r *runner) bigDep(ctx context.Context, a Adapter) (BigDepRow, error) {
	row := BigDepRow{Adapter: a.Name(), Entries: r.cfg.BigDepEntries, SlowlogMax: -1}
	src := NewSource(0, 0)
	env := r.env(src)
	defer r.finish(env)
	node, err := a.Open(ctx, env)
	if err != nil {
		return row, err
	}
	defer node.Close()
	tn, ok := node.(TieredNode)
	if !ok {
		row.Note = "adapter does not expose its tiered.Cache"
		return row, nil
	}
	c := tn.Cache()
	tag := deps.Tag("big")
	start := time.Now()
	err = fillDeps(ctx, c, src, 0, r.cfg.BigDepEntries, func(i int) []deps.Dep { return []deps.Dep{ItemDep(i), tag} })
	row.Fill = time.Since(start)
	if err != nil {
		return row, fmt.Errorf("fill: %w", err)
	}

	restore := r.slowlogOn(ctx)
	defer restore()
	lastID := r.lastSlowlogID(ctx)

	stop := make(chan struct{})
	pingMax := make(chan time.Duration, 1)
	go func() {
		var m time.Duration
		defer func() { pingMax <- m }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			t := time.Now()
			if err := r.admin.Ping(ctx).Err(); err != nil {
				return
			}
			m = max(m, time.Since(t))
			time.Sleep(200 * time.Microsecond)
		}
	}()
	time.Sleep(5 * time.Millisecond)
	env.ResetMaxCall()
	start = time.Now()
	err = c.Invalidate(ctx, tag)
	row.Total = time.Since(start)
	row.MaxCall = env.MaxCall()
	time.Sleep(5 * time.Millisecond)
	close(stop)
	row.PingMax = <-pingMax
	row.Measured = true
	if err != nil {
		return row, fmt.Errorf("invalidate: %w", err)
	}
	row.SlowlogMax, row.SlowlogN = r.slowlogSince(ctx, lastID, env.Namespace)

	// A node that never saw the entries reads a sample: none may be left.
	check, err := a.Open(ctx, env)
	if err != nil {
		return row, err
	}
	defer check.Close()
	ct := check.(TieredNode).Cache()
	step := max(1, r.cfg.BigDepEntries/100)
	for i := 0; i < r.cfg.BigDepEntries; i += step {
		row.Sampled++
		if _, err := matroska.Get[Item](ctx, ct, Key(i)); !errors.Is(err, matroska.ErrMiss) {
			row.Left++
		}
	}
	return row, nil
}

// slowlogOn lowers the SLOWLOG threshold to slowlogThreshold (when it is
// higher) and returns a function restoring the old settings. On a server
// that refuses CONFIG it does nothing.
func (r *runner) slowlogOn(ctx context.Context) func() {
	old, err := r.admin.ConfigGet(ctx, "slowlog-*").Result()
	if err != nil {
		return func() {}
	}
	us := strconv.FormatInt(slowlogThreshold.Microseconds(), 10)
	cur, err := strconv.ParseInt(old["slowlog-log-slower-than"], 10, 64)
	if err != nil || cur < 0 || cur > slowlogThreshold.Microseconds() {
		_ = r.admin.ConfigSet(ctx, "slowlog-log-slower-than", us).Err()
	}
	if n, _ := strconv.Atoi(old["slowlog-max-len"]); n < 1024 {
		_ = r.admin.ConfigSet(ctx, "slowlog-max-len", "1024").Err()
	}
	return func() {
		for _, k := range []string{"slowlog-log-slower-than", "slowlog-max-len"} {
			if v, ok := old[k]; ok {
				_ = r.admin.ConfigSet(context.Background(), k, v).Err()
			}
		}
	}
}

// lastSlowlogID is the id of the newest SLOWLOG entry, or -1.
func (r *runner) lastSlowlogID(ctx context.Context) int64 {
	l, err := r.admin.SlowLogGet(ctx, 1).Result()
	if err != nil || len(l) == 0 {
		return -1
	}
	return l[0].ID
}

// slowlogSince returns the longest SLOWLOG entry newer than id whose
// arguments mention namespace, and how many there were; -1 when SLOWLOG
// cannot be read.
func (r *runner) slowlogSince(ctx context.Context, id int64, namespace string) (time.Duration, int) {
	l, err := r.admin.SlowLogGet(ctx, 1024).Result()
	if err != nil {
		return -1, 0
	}
	var m time.Duration
	n := 0
	for _, e := range l {
		if e.ID <= id || !mentions(e, namespace) {
			continue
		}
		n++
		m = max(m, e.Duration)
	}
	return m, n
}

func mentions(e redis.SlowLog, namespace string) bool {
	for _, a := range e.Args {
		if strings.Contains(a, namespace) {
			return true
		}
	}
	return false
}
