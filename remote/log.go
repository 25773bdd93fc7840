package remote

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/matroska-go/matroska/deps"
)

// LogEntry is one invalidation as the log holds it.
type LogEntry struct {
	Seq    uint64
	Epoch  string
	Origin string
	Deps   []deps.Dep
}

// Log returns the logged invalidations with sequence numbers in
// (after, upto], in order. complete is false when the log does not hold
// every one of them: it was trimmed past after, Redis restarted or was
// flushed, or an entry does not decode; the entries returned are then the
// ones before the first missing one. after >= upto gives (nil, true, nil).
func (s *Store) Log(ctx context.Context, after, upto uint64) ([]LogEntry, bool, error) {
	if after >= upto {
		return nil, true, nil
	}
	msgs, err := s.rdb.XRangeN(ctx, s.keys.log,
		strconv.FormatUint(after+1, 10)+"-1", strconv.FormatUint(upto, 10)+"-1",
		int64(min(upto-after, 1<<31))).Result()
	if err != nil {
		return nil, false, fmt.Errorf("remote: log: %w", err)
	}
	out := make([]LogEntry, 0, len(msgs))
	next := after + 1
	for _, m := range msgs {
		e, err := decodeLogEntry(m.ID, m.Values)
		if err != nil || e.Seq != next {
			return out, false, nil
		}
		out = append(out, e)
		next++
	}
	return out, next == upto+1, nil
}

func decodeLogEntry(id string, vals map[string]any) (LogEntry, error) {
	seqText, ok := strings.CutSuffix(id, "-1")
	if !ok {
		return LogEntry{}, fmt.Errorf("%w: log id %q", ErrCorrupt, id)
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return LogEntry{}, fmt.Errorf("%w: log id %q", ErrCorrupt, id)
	}
	epoch, _ := vals["e"].(string)
	origin, _ := vals["o"].(string)
	joined, _ := vals["d"].(string)
	if epoch == "" || origin == "" || joined == "" {
		return LogEntry{}, fmt.Errorf("%w: log entry %q lacks a field", ErrCorrupt, id)
	}
	e := LogEntry{Seq: seq, Epoch: epoch, Origin: origin}
	for line := range strings.SplitSeq(joined, "\n") {
		d, err := deps.Parse(line)
		if err != nil {
			return LogEntry{}, fmt.Errorf("%w: log entry %q: %w", ErrCorrupt, id, err)
		}
		e.Deps = append(e.Deps, d)
	}
	return e, nil
}
