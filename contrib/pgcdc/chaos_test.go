package pgcdc_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// TestChaosCommitLog: writers commit and never invalidate; the consumer
// is stopped and started again at random; nodes that follow its feed
// read all along. No read returns a version older than one committed
// longer than the bound before the read began (the feed's Bound, twice
// the nodes' Heartbeat, and a margin for the broadcast and the machine),
// and once a consumer runs again every node converges on the database.
func TestChaosCommitLog(t *testing.T) {
	const (
		rows      = 8
		bound     = 300 * time.Millisecond
		heartbeat = 50 * time.Millisecond
		margin    = 250 * time.Millisecond
		allowed   = bound + 2*heartbeat + margin
		run       = 5 * time.Second
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	r := newRig(t, "chaos")
	for id := 1; id <= rows; id++ {
		r.exec(`INSERT INTO articles VALUES ($1, '0', 'go', true)`, id)
	}
	var nodes []*tiered.Cache
	for i := range 3 {
		nodes = append(nodes, r.node(fmt.Sprintf("r%d", i), func(cfg *tiered.Config) {
			cfg.Feeds = []string{"pg"}
			cfg.TrustWindow, cfg.Heartbeat = 8*heartbeat, heartbeat
		}))
	}
	cfg := r.config()
	cfg.Invalidator, cfg.Feed, cfg.Bound = r.node("feeder"), "pg", bound

	// commits[id] lists the versions of row id, each with the time its
	// COMMIT returned.
	type commit struct {
		v  int
		at time.Time
	}
	var mu sync.Mutex
	commits := make([][]commit, rows+1)
	for id := range commits {
		commits[id] = []commit{{0, time.Now()}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var wg sync.WaitGroup
	writer := dial(t, r.dsn)
	wg.Go(func() {
		wrng := rand.New(rand.NewPCG(seed, 2))
		for ctx.Err() == nil {
			id := 1 + wrng.IntN(rows)
			mu.Lock()
			v := commits[id][len(commits[id])-1].v + 1
			mu.Unlock()
			if err := writer.exec(`UPDATE articles SET title = $1 WHERE id = $2`, strconv.Itoa(v), id); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			commits[id] = append(commits[id], commit{v, time.Now()})
			mu.Unlock()
			time.Sleep(time.Duration(2+wrng.IntN(8)) * time.Millisecond)
		}
	})

	reader := dial(t, r.dsn)
	read := func(n *tiered.Cache, id int) (int, error) {
		title, err := matroska.GetOrLoad(context.Background(), n, fmt.Sprintf("article:%d", id),
			func(ctx context.Context, rec *matroska.Recorder) (string, error) {
				var title string
				err := reader.queryRow([]any{&title}, "SELECT title FROM articles WHERE id = $1", id)
				if errors.Is(err, pgx.ErrNoRows) {
					err = matroska.ErrNotFound
				}
				rec.Depend(deps.Id("articles", id))
				return title, err
			})
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(title)
	}
	type stale struct {
		node, id, got, want int
		age                 time.Duration
	}
	var stales []stale
	reads := 0
	for ni, n := range nodes {
		wg.Go(func() {
			rrng := rand.New(rand.NewPCG(seed, uint64(10+ni)))
			for ctx.Err() == nil {
				id := 1 + rrng.IntN(rows)
				began := time.Now()
				got, err := read(n, id)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				reads++
				// The newest version committed more than allowed before
				// the read began: the read must not return an older one.
				for i := len(commits[id]) - 1; i >= 0; i-- {
					c := commits[id][i]
					if age := began.Sub(c.at); age > allowed {
						if got < c.v {
							stales = append(stales, stale{ni, id, got, c.v, age})
						}
						break
					}
				}
				mu.Unlock()
			}
		})
	}

	// The consumer: stopped and started again at random.
	var c *running
	for ctx.Err() == nil {
		c = start(t, cfg)
		sleepCtx(ctx, time.Duration(200+rng.IntN(500))*time.Millisecond)
		c.stop()
		// Down for up to three times the bound: long enough for changes
		// to be served stale past it, if nothing stopped the nodes.
		sleepCtx(ctx, time.Duration(100+rng.IntN(int(3*allowed/time.Millisecond)))*time.Millisecond)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d reads, %d commits", reads, func() (n int) {
		for _, cs := range commits {
			n += len(cs) - 1
		}
		return n
	}())
	for i, s := range stales {
		if i == 5 {
			break
		}
		t.Errorf("stale read on node %d: row %d version %d, but %d committed %v before the read (allowed %v)", s.node, s.id, s.got, s.want, s.age, allowed)
	}
	if len(stales) > 0 {
		t.Fatalf("%d stale reads beyond the bound", len(stales))
	}

	// A consumer again: every node converges on the database.
	start(t, cfg)
	for id := 1; id <= rows; id++ {
		want := commits[id][len(commits[id])-1].v
		for ni, n := range nodes {
			waitFor(t, 10*time.Second, fmt.Sprintf("node %d converges on row %d", ni, id), func() bool {
				got, err := read(n, id)
				return err == nil && got == want && n.Ready(context.Background()) == nil
			})
		}
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
