package remote

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
)

// seedDependents stores n entries "<prefix><i>" that depend on hot and on a
// per-entry deps.Id("row", i), through the put script in pipelines of 5000
// (the same script Put runs, without a round trip per entry).
func (e *env) seedDependents(tb testing.TB, hot deps.Dep, prefix string, n int) {
	tb.Helper()
	mark := e.state(tb)
	if err := e.s.scripts.put.Load(e.ctx, e.rdb).Err(); err != nil {
		tb.Fatal(err)
	}
	for start := 0; start < n; start += 5000 {
		pipe := e.rdb.Pipeline()
		for j := start; j < min(start+5000, n); j++ {
			key := prefix + strconv.Itoa(j)
			row := deps.Id("row", j)
			env := Envelope{Deps: []deps.Dep{hot, row}, Payload: make([]byte, 64), Mark: mark.Seq, Epoch: mark.Epoch}
			e.s.scripts.put.EvalSha(e.ctx, pipe, e.s.putKeys(), e.s.putArgs(key, env, 10*time.Minute, mark)...)
		}
		cmds, err := pipe.Exec(e.ctx)
		if err != nil {
			tb.Fatal(err)
		}
		for _, c := range cmds {
			if r, err := c.(*redis.Cmd).Int64Slice(); err != nil || len(r) != 1 || r[0] != 0 {
				tb.Fatalf("seeding put = %v, %v", r, err)
			}
		}
	}
	if got := e.rdb.ZCard(e.ctx, e.s.DepKey(hot)).Val(); got != int64(n) {
		tb.Fatalf("%d dependents of %v, want %d", got, hot, n)
	}
}

// slowlogOn makes Redis log every command that takes 100µs or more with its
// duration, and clears the log. (With a threshold of 0 Redis 7 also logs
// each command a script runs, which would flood the log and slow the
// scripts down.)
func (e *env) slowlogOn(tb testing.TB) {
	tb.Helper()
	for _, kv := range [][2]string{{"slowlog-log-slower-than", "100"}, {"slowlog-max-len", "10000"}} {
		if err := e.rdb.ConfigSet(e.ctx, kv[0], kv[1]).Err(); err != nil {
			tb.Fatal(err)
		}
	}
	e.slowlogReset(tb)
}

func (e *env) slowlogReset(tb testing.TB) {
	tb.Helper()
	if err := e.rdb.Do(e.ctx, "SLOWLOG", "RESET").Err(); err != nil {
		tb.Fatal(err)
	}
}

// scriptCalls returns the server-side durations of the EVAL and EVALSHA
// calls of 100µs or more logged since the last reset, oldest first, and
// clears the log.
func (e *env) scriptCalls(tb testing.TB) []time.Duration {
	tb.Helper()
	logs, err := e.rdb.SlowLogGet(e.ctx, -1).Result()
	if err != nil {
		tb.Fatal(err)
	}
	e.slowlogReset(tb)
	var out []time.Duration
	for i := len(logs) - 1; i >= 0; i-- {
		if len(logs[i].Args) > 0 {
			switch name := fmt.Sprint(logs[i].Args[0]); name {
			case "evalsha", "EVALSHA", "eval", "EVAL":
				out = append(out, logs[i].Duration)
			}
		}
	}
	return out
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func sumDuration(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}
