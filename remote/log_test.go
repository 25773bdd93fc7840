package remote

import (
	"fmt"
	"slices"
	"testing"

	"github.com/matroska-go/matroska/deps"
)

func logEqual(a, b LogEntry) bool {
	return a.Seq == b.Seq && a.Epoch == b.Epoch && a.Origin == b.Origin && slices.Equal(a.Deps, b.Deps)
}

func TestLog(t *testing.T) {
	e := newEnv(t)
	var want []LogEntry
	for i := 1; i <= 5; i++ {
		ds := []deps.Dep{deps.Id("a", i), deps.Tag(fmt.Sprint("t", i))}
		st, err := e.s.Invalidate(e.ctx, ds, fmt.Sprint("n", i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, LogEntry{Seq: st.Seq, Epoch: st.Epoch, Origin: fmt.Sprint("n", i), Deps: ds})
	}
	for _, r := range [][2]uint64{{0, 5}, {2, 4}, {4, 5}, {0, 1}} {
		got, complete, err := e.s.Log(e.ctx, r[0], r[1])
		if err != nil || !complete {
			t.Fatalf("Log%v = complete %v, %v", r, complete, err)
		}
		w := want[r[0]:r[1]]
		if len(got) != len(w) {
			t.Fatalf("Log%v has %d entries, want %d", r, len(got), len(w))
		}
		for i := range got {
			if !logEqual(got[i], w[i]) {
				t.Fatalf("Log%v[%d] = %+v, want %+v", r, i, got[i], w[i])
			}
		}
	}
	if got, complete, err := e.s.Log(e.ctx, 5, 5); err != nil || !complete || len(got) != 0 {
		t.Fatalf("empty range: %v, %v, %v", got, complete, err)
	}
	// Beyond the end: not complete.
	if got, complete, err := e.s.Log(e.ctx, 3, 7); err != nil || complete || len(got) != 2 {
		t.Fatalf("Log(3, 7) = %d entries, complete %v, %v; want 2, false", len(got), complete, err)
	}
	// A gap in the middle (a lost entry): not complete, entries up to it.
	if err := e.rdb.XDel(e.ctx, e.s.LogKey(), "3-1").Err(); err != nil {
		t.Fatal(err)
	}
	if got, complete, err := e.s.Log(e.ctx, 0, 5); err != nil || complete || len(got) != 2 {
		t.Fatalf("Log with a gap = %d entries, complete %v, %v", len(got), complete, err)
	}
	// An entry that does not decode: not complete.
	if err := e.rdb.XAdd(e.ctx, xadd(e.s.LogKey(), "6-1", "e", "x", "o", "y", "d", "bad")).Err(); err != nil {
		t.Fatal(err)
	}
	if _, complete, err := e.s.Log(e.ctx, 5, 6); err != nil || complete {
		t.Fatalf("Log of a bad entry: complete %v, %v", complete, err)
	}
}

func TestLogTrimmed(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LogLength = 1 })
	var last uint64
	for i := 0; i < 300; i++ {
		last = e.invalidate(t, deps.Tag("x")).Seq
	}
	n := e.rdb.XLen(e.ctx, e.s.LogKey()).Val()
	if n >= 300 {
		t.Fatalf("log holds %d entries, MAXLEN ~ 1 did not trim", n)
	}
	if _, complete, err := e.s.Log(e.ctx, 0, last); err != nil || complete {
		t.Fatalf("Log of a trimmed range: complete %v, %v", complete, err)
	}
	got, complete, err := e.s.Log(e.ctx, last-1, last)
	if err != nil || !complete || len(got) != 1 || got[0].Seq != last {
		t.Fatalf("Log of the newest entry = %+v, %v, %v", got, complete, err)
	}
}

func TestLogAfterFlushAll(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.invalidate(t, deps.Tag("x"))
	}
	old := e.state(t)
	if err := e.rdb.FlushAll(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, complete, err := e.s.Log(e.ctx, 0, 3); err != nil || complete {
		t.Fatalf("Log after FLUSHALL: complete %v, %v", complete, err)
	}
	st := e.invalidate(t, deps.Tag("x"))
	if st.Seq != 1 || st.Epoch == old.Epoch {
		t.Fatalf("after FLUSHALL the state is %+v (was %+v): want seq 1 in a new epoch", st, old)
	}
	got, complete, err := e.s.Log(e.ctx, 0, 1)
	if err != nil || !complete || got[0].Epoch != st.Epoch {
		t.Fatalf("Log in the new epoch = %+v, %v, %v", got, complete, err)
	}
}

// A new epoch drops the old epoch's log, whose ids would clash with the
// restarted sequence.
func TestNewEpochDropsOldLog(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.invalidate(t, deps.Tag("x"))
	}
	if err := e.rdb.Del(e.ctx, e.s.SeqKey()).Err(); err != nil {
		t.Fatal(err)
	}
	st := e.invalidate(t, deps.Tag("y"))
	got, complete, err := e.s.Log(e.ctx, 0, 5)
	if err != nil || complete || len(got) != 1 || got[0].Epoch != st.Epoch {
		t.Fatalf("Log after a lost seq = %+v, complete %v, %v", got, complete, err)
	}
}
