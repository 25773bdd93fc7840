package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/remote"
)

// The operator's commands: inspect, invalidate, stats and watch. Each talks
// to the Redis of a running deployment, given by -redis (a redis:// URL, or
// host:port, or several host:port separated by commas for a Redis Cluster;
// default $REDIS_URL, else 127.0.0.1:6379), -cluster (a cluster reached
// through one address) and -namespace.

// Errors of the operator's commands.
var (
	errNoRedis      = errors.New("cannot reach Redis")
	errNoNamespace  = errors.New("namespace not found")
	errUsage        = errors.New("usage")
	errNotFoundHere = errors.New("not in Redis")
)

// opsEnv is what every operator command needs.
type opsEnv struct {
	rdb   redis.UniversalClient
	store *remote.Store
	ns    string
	addr  string
}

// defaultRedis is the address the operator's commands use without -redis
// and without $REDIS_URL.
const defaultRedis = "127.0.0.1:6379"

// connectOps parses the common flags (and those that more adds) and
// connects. Flags may stand before, between or after the arguments; "--"
// ends them. rest are the other arguments, in order.
func connectOps(ctx context.Context, name string, args []string, out io.Writer, more func(*flag.FlagSet)) (*opsEnv, []string, func(), error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("redis", "", "Redis `address`: a redis:// or rediss:// URL, host:port, or host:port,host:port... of a cluster (default $REDIS_URL, else "+defaultRedis+")")
	cluster := fs.Bool("cluster", false, "the address is a seed of a Redis Cluster")
	ns := fs.String("namespace", "matroska", "the cache's `namespace` (tiered.Config.Namespace)")
	if more != nil {
		more(fs)
	}
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if *addr == "" {
		*addr = os.Getenv("REDIS_URL")
	}
	if *addr == "" {
		*addr = defaultRedis
	}
	rdb, err := redisClient(*addr, *cluster)
	if err != nil {
		return nil, nil, nil, err
	}
	closeAll := func() { _ = rdb.Close() }
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	shown := redacted(*addr)
	if err := rdb.Ping(pctx).Err(); err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("%w at %s: %w", errNoRedis, shown, err)
	}
	store, err := remote.New(remote.Config{Redis: rdb, Namespace: *ns})
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	env := &opsEnv{rdb: rdb, store: store, ns: *ns, addr: shown}
	return env, rest, closeAll, nil
}

// parseInterleaved parses fs's flags wherever they stand among args (the
// flag package alone stops at the first argument that is not a flag) and
// returns the other arguments in order. Everything after "--" is an
// argument, for one that starts with '-'.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			return append(rest, left...), nil
		}
		if len(left) == 0 {
			return rest, nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// redacted is addr with the password of a URL replaced by "xxxxx", for
// messages.
func redacted(addr string) string {
	if u, err := url.Parse(addr); err == nil && u.User != nil {
		return u.Redacted()
	}
	return addr
}

// redisClient returns a client of addr: a cluster client for several
// comma-separated addresses or with cluster set, else a single client.
func redisClient(addr string, cluster bool) (redis.UniversalClient, error) {
	var opts *redis.Options
	if strings.Contains(addr, "://") {
		o, err := redis.ParseURL(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: -redis %q: %w", errUsage, addr, err)
		}
		opts = o
	} else {
		opts = &redis.Options{Addr: addr}
	}
	addrs := strings.Split(opts.Addr, ",")
	if cluster || len(addrs) > 1 {
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: addrs, Username: opts.Username, Password: opts.Password, TLSConfig: opts.TLSConfig,
			ContextTimeoutEnabled: true, DialTimeout: 2 * time.Second, MaxRetries: -1,
		}), nil
	}
	opts.ContextTimeoutEnabled = true
	opts.DialTimeout = 2 * time.Second
	opts.MaxRetries = -1
	return redis.NewClient(opts), nil
}

// scan calls f with every key of the namespace, on every master of a
// cluster (the masters are scanned at once; f is called by one at a time).
func (e *opsEnv) scan(ctx context.Context, f func(key string) bool) error {
	var mu sync.Mutex
	each := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, e.ns+":*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			more := f(iter.Val())
			mu.Unlock()
			if !more {
				return errStop
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := e.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return each(ctx, m) })
	} else {
		err = each(ctx, e.rdb)
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")

// checkNamespace fails when the namespace has never been used on this Redis:
// most often a wrong -namespace.
func (e *opsEnv) checkNamespace(ctx context.Context) error {
	n, err := e.rdb.Exists(ctx, e.store.SeqKey(), e.store.EpochKey()).Result()
	if err != nil {
		return fmt.Errorf("%w at %s: %w", errNoRedis, e.addr, err)
	}
	if n > 0 {
		return nil
	}
	found := false
	if err := e.scan(ctx, func(string) bool { found = true; return false }); err != nil {
		return fmt.Errorf("%w at %s: %w", errNoRedis, e.addr, err)
	}
	if found {
		return nil
	}
	return fmt.Errorf("%w: Redis at %s holds no key of namespace %q (check -namespace)", errNoNamespace, e.addr, e.ns)
}

// inspect prints an entry (inspect key K) or a dependency's entries
// (inspect dep D).
func inspect(ctx context.Context, args []string, out io.Writer) error {
	env, rest, done, err := connectOps(ctx, "inspect", args, out, nil)
	if err != nil {
		return err
	}
	defer done()
	if len(rest) != 2 || (rest[0] != "key" && rest[0] != "dep") {
		return fmt.Errorf("%w: matroska inspect [flags] key <key> | dep <dependency>", errUsage)
	}
	if err := env.checkNamespace(ctx); err != nil {
		return err
	}
	if rest[0] == "key" {
		return env.inspectKey(ctx, rest[1], out)
	}
	return env.inspectDep(ctx, rest[1], out)
}

func (e *opsEnv) inspectKey(ctx context.Context, key string, out io.Writer) error {
	rk := e.store.EntryKey(key)
	in, found, err := e.store.Inspect(ctx, key)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", errNoRedis, e.addr, err)
	}
	if !found {
		return fmt.Errorf("%w: key %q (Redis key %s)", errNotFoundHere, key, rk)
	}
	if in.Corrupt != nil {
		fmt.Fprintf(out, "key      %s\nredis    %s\nentry    CORRUPT: %v (%d bytes)\n", key, rk, in.Corrupt, in.Size)
		return nil
	}
	env := in.Envelope
	kind := "value"
	if env.NotFound {
		kind = "not found (negative entry)"
	}
	fmt.Fprintf(out, "key      %s\nredis    %s\nentry    %s, %d payload bytes\nttl      %v\n", key, rk, kind, len(env.Payload), in.TTL.Round(time.Millisecond))
	if !env.Fresh.IsZero() {
		fmt.Fprintf(out, "fresh    for %v more (then kept only for StaleIfError)\n", time.Until(env.Fresh).Round(time.Millisecond))
	}
	if !env.Due.IsZero() {
		fmt.Fprintf(out, "refresh  due in %v\n", time.Until(env.Due).Round(time.Millisecond))
	}
	if in.Mark != nil {
		fmt.Fprintf(out, "mark     %d (epoch %s)\n", in.Mark.Seq, in.Mark.Epoch)
	}
	fmt.Fprintf(out, "deps     %d\n", len(env.Deps))
	for i, d := range env.Deps {
		indexed := "indexed"
		if !in.Indexed[i] {
			indexed = "NOT INDEXED (the entry reads as a miss)"
		}
		fmt.Fprintf(out, "  %s  %s\n", d, indexed)
	}
	if len(env.Payload) > 0 {
		fmt.Fprintf(out, "payload  %s\n", preview(env.Payload, 400))
	}
	return nil
}

func (e *opsEnv) inspectDep(ctx context.Context, s string, out io.Writer) error {
	d, err := deps.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: %q is not a dependency string (for example id:article:7, tag:home, cond:article:category=go): %w", errUsage, s, err)
	}
	members, err := e.rdb.ZRangeWithScores(ctx, e.store.DepKey(d), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("%w at %s: %w", errNoRedis, e.addr, err)
	}
	fmt.Fprintf(out, "dep      %s\nredis    %s\nentries  %d\n", d, e.store.DepKey(d), len(members))
	now := time.Now()
	for _, m := range members {
		exp := time.UnixMilli(int64(m.Score))
		fmt.Fprintf(out, "  %s  expires in %v\n", m.Member, exp.Sub(now).Round(time.Second))
	}
	return nil
}

// invalidateCmd invalidates dependencies from the shell.
func invalidateCmd(ctx context.Context, args []string, out io.Writer) error {
	env, rest, done, err := connectOps(ctx, "invalidate", args, out, nil)
	if err != nil {
		return err
	}
	defer done()
	if len(rest) == 0 {
		return fmt.Errorf("%w: matroska invalidate [flags] <dependency> [<dependency> ...]", errUsage)
	}
	ds := make([]deps.Dep, 0, len(rest))
	for _, s := range rest {
		d, err := deps.Parse(s)
		if err != nil {
			return fmt.Errorf("%w: %q is not a dependency string: %w", errUsage, s, err)
		}
		ds = append(ds, d)
	}
	if err := env.checkNamespace(ctx); err != nil {
		return err
	}
	host, _ := os.Hostname()
	st, err := env.store.Invalidate(ctx, ds, "cli@"+host)
	if err != nil {
		return fmt.Errorf("invalidate: %w", err)
	}
	fmt.Fprintf(out, "invalidated %s at sequence %d (epoch %s)\n", plural(len(ds), "dependency", "dependencies"), st.Seq, st.Epoch)
	return nil
}

// stats prints the namespace's figures.
func stats(ctx context.Context, args []string, out io.Writer) error {
	env, rest, done, err := connectOps(ctx, "stats", args, out, nil)
	if err != nil {
		return err
	}
	defer done()
	if len(rest) != 0 {
		return fmt.Errorf("%w: matroska stats [flags]", errUsage)
	}
	if err := env.checkNamespace(ctx); err != nil {
		return err
	}
	st, err := env.store.State(ctx)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", errNoRedis, env.addr, err)
	}
	seq, epoch := st.Seq, st.Epoch
	logLen, _ := env.rdb.XLen(ctx, env.store.LogKey()).Result()
	var pending int64
	if k := env.store.PendingKey(); k != "" {
		pending, _ = env.rdb.ZCard(ctx, k).Result()
	}
	var subs map[string]int64
	if cc, ok := env.rdb.(*redis.ClusterClient); ok && env.store.Cluster() {
		// Shard channels are counted by the master of the channel's slot.
		if m, err := cc.MasterForKey(ctx, env.store.Channel()); err == nil {
			subs, _ = m.PubSubShardNumSub(ctx, env.store.Channel()).Result()
		}
	} else {
		subs, _ = env.rdb.PubSubNumSub(ctx, env.store.Channel()).Result()
	}
	counts := map[string]int{}
	err = env.scan(ctx, func(k string) bool {
		k = strings.TrimPrefix(k, env.ns+":")
		kind, _, _ := strings.Cut(k, ":")
		counts[kind]++
		return true
	})
	if err != nil {
		return fmt.Errorf("%w at %s: %w", errNoRedis, env.addr, err)
	}
	mem := infoField(env.rdb.Info(ctx, "memory").Val(), "used_memory_human")
	fmt.Fprintf(out, "redis          %s\nnamespace      %s\nepoch          %s\nsequence       %d\n", env.addr, env.ns, epoch, seq)
	fmt.Fprintf(out, "log            %d invalidations kept\npending        %d invalidations in phases\n", logLen, pending)
	fmt.Fprintf(out, "entries        %d\ndependencies   %d\ntombstones     %d\n", counts["e"], counts["d"], counts["i"])
	fmt.Fprintf(out, "subscribers    %d on %s\nredis memory   %s (whole server)\n", subs[env.store.Channel()], env.store.Channel(), mem)
	reports, err := env.feedReports(ctx)
	switch {
	case err != nil:
		fmt.Fprintf(out, "feeds          unreadable: %v\n", err)
	case len(reports) == 0:
		fmt.Fprintf(out, "feeds          none reported\n")
	default:
		printFeeds(out, time.Now(), reports, nil)
	}
	return nil
}

// watch prints invalidations as the bus carries them, and the feeds'
// reports at the start and every -feeds. -count stops after that many
// messages (0: until interrupted).
func watch(ctx context.Context, args []string, out io.Writer) error {
	var count int
	var every time.Duration
	env, extra, done, err := connectOps(ctx, "watch", args, out, func(fs *flag.FlagSet) {
		fs.IntVar(&count, "count", 0, "stop after `n` invalidations (0: until interrupted)")
		fs.DurationVar(&every, "feeds", 5*time.Second, "show the feeds' reports every `interval` (0: never)")
	})
	if err != nil {
		return err
	}
	defer done()
	if len(extra) != 0 || count < 0 || every < 0 {
		return fmt.Errorf("%w: matroska watch [flags] [-count n] [-feeds interval]", errUsage)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	var sub *redis.PubSub
	if env.store.Cluster() {
		sub = env.rdb.SSubscribe(ctx, env.store.Channel())
	} else {
		sub = env.rdb.Subscribe(ctx, env.store.Channel())
	}
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("%w at %s: subscribe: %w", errNoRedis, env.addr, err)
	}
	fmt.Fprintf(out, "watching %s on %s (Ctrl-C stops)\n", env.store.Channel(), env.addr)
	var feeds <-chan time.Time
	var shown map[string]*feedReport
	showFeeds := func() {
		reports, err := env.feedReports(ctx)
		if err != nil {
			fmt.Fprintf(out, "%s  FEEDS unreadable: %v\n", time.Now().Format("15:04:05.000"), err)
			return
		}
		printFeeds(out, time.Now(), reports, shown)
		shown = reports
	}
	if every > 0 {
		showFeeds()
		t := time.NewTicker(every)
		defer t.Stop()
		feeds = t.C
	}
	ch := sub.Channel()
	for seen := 0; count == 0 || seen < count; {
		select {
		case <-ctx.Done():
			return nil
		case <-feeds:
			showFeeds()
		case msg, ok := <-ch:
			if !ok {
				return fmt.Errorf("%w at %s: subscription closed", errNoRedis, env.addr)
			}
			seen++
			m, err := bus.Decode([]byte(msg.Payload))
			if err != nil {
				fmt.Fprintf(out, "%s  MALFORMED %v: %s\n", time.Now().Format("15:04:05.000"), err, preview([]byte(msg.Payload), 120))
				continue
			}
			now := time.Now().Format("15:04:05.000")
			if m.Hold {
				fmt.Fprintf(out, "%s  HOLD  from %s  (an invalidation Redis refused: no node serves the cache until a new epoch)\n", now, m.Origin)
				continue
			}
			if m.InLog {
				// Too large for a message: its dependencies are in the log.
				if logged, complete, err := env.store.Log(ctx, m.Seq-1, m.Seq); err == nil && complete && len(logged) == 1 {
					m.Deps = logged[0].Deps
				}
			}
			ds := make([]string, len(m.Deps))
			for i, d := range m.Deps {
				ds[i] = d.String()
			}
			fmt.Fprintf(out, "%s  seq %d  from %s  %s\n", now, m.Seq, m.Origin, strings.Join(ds, " "))
		}
	}
	return nil
}

// plural is n and the noun in the number n asks for.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return "?"
}

// preview returns b as text when it is printable UTF-8, cut to max bytes,
// else a note of its size.
func preview(b []byte, max int) string {
	if !utf8.Valid(b) {
		return fmt.Sprintf("(%d bytes of binary)", len(b))
	}
	s := string(b)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
