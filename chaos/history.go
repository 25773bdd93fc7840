package chaos

import (
	"fmt"
	"sort"
	"time"
)

// Write is one committed change of one cached key, as a writer recorded it.
// A change of a database row that several cached keys show (the row, the
// lists it leaves and joins) is one Write per key.
type Write struct {
	Key     string
	Version uint64 // the key's version after the change; a key's versions grow by one per change
	Deleted bool   // at this version the key reads as not found
	Node    int    // the node whose Invalidate announced the change

	// Committed is taken under the database lock while the change is made:
	// every reader that sees the change ends after it.
	Committed time.Time

	// Invalidated is when the Invalidate call announcing the change
	// returned without error (the writer retries until one does); zero if
	// none did, and then the write binds no read.
	Invalidated time.Time
}

// Read is one GetOrLoad call that answered: a version, or not found.
type Read struct {
	Key      string
	Node     int
	Start    time.Time // taken before the call
	End      time.Time // taken after it returned
	Version  uint64    // the version returned; unused when NotFound
	NotFound bool
}

// Violation is a read the checker rejects.
type Violation struct {
	Read    Read
	Phantom bool   // the read returned a version (or a not-found) that no write had committed before it ended
	Got     uint64 // the version the read is credited with
	Want    uint64 // the oldest version it was allowed to return
	Write   Write  // the write that set Want
}

func (v Violation) String() string {
	r := v.Read
	what := fmt.Sprintf("version %d", r.Version)
	if r.NotFound {
		what = fmt.Sprintf("not found (credited version %d)", v.Got)
	}
	if v.Phantom {
		return fmt.Sprintf("phantom read: node %d read %s of %q in [%s, %s], which no write had committed",
			r.Node, what, r.Key, r.Start.Format(stamp), r.End.Format(stamp))
	}
	return fmt.Sprintf("stale read: node %d read %s of %q, started %s; version %d was committed at %s and invalidated by node %d at %s (%v before the read)",
		r.Node, what, r.Key, r.Start.Format(stamp), v.Want, v.Write.Committed.Format(stamp),
		v.Write.Node, v.Write.Invalidated.Format(stamp), r.Start.Sub(v.Write.Invalidated))
}

const stamp = "15:04:05.000000"

// Check returns every read of reads that the history of writes makes
// stale or impossible, in the order of reads.
//
// The rule. A read r of key k on node n that started at r.Start must return
// a version at least Want, the highest version v of k for which a write w
// has w.Invalidated + b(n, w.Node) <= r.Start, where the bound b is zero
// for the node that invalidated (read-your-writes, G3: when Invalidate
// returns, neither its node's L1 nor Redis serves the old value) and bound
// for every other node (their L1 may lag by the propagation bound, G5,
// which G4 caps at the trust window). Writes that were never invalidated
// bind nothing. A write committed but not yet invalidated when the read
// started may or may not be seen: both are correct.
//
// Not-found answers carry no version: a not-found read of k is credited
// with the highest version of k that is a deletion committed before the
// read ended (the most favourable reading for the cache, so the checker
// never reports a read that some order of events explains). A read is also
// rejected, as a phantom, when the version it returned (or, for a
// not-found, any deletion) was not committed before it ended.
//
// Initial versions are writes too: record them with Committed set and
// Invalidated zero.
func Check(writes []Write, reads []Read, bound time.Duration) []Violation {
	byKey := map[string][]Write{}
	for _, w := range writes {
		byKey[w.Key] = append(byKey[w.Key], w)
	}
	for _, ws := range byKey {
		sort.Slice(ws, func(i, j int) bool { return ws[i].Version < ws[j].Version })
	}
	var out []Violation
	for _, r := range reads {
		if v, bad := checkRead(byKey[r.Key], r, bound); bad {
			out = append(out, v)
		}
	}
	return out
}

func checkRead(ws []Write, r Read, bound time.Duration) (Violation, bool) {
	v := Violation{Read: r}
	// Credit: the version returned, if it was committed before the read
	// ended; for a not-found, the newest deletion committed by then.
	credited := false
	for _, w := range ws {
		if w.Committed.After(r.End) {
			break // versions grow with commit time under the database lock
		}
		if r.NotFound && w.Deleted {
			v.Got, credited = w.Version, true
		}
		if !r.NotFound && !w.Deleted && w.Version == r.Version {
			v.Got, credited = w.Version, true
		}
	}
	if !credited {
		v.Phantom = true
		v.Got = r.Version
		return v, true
	}
	for _, w := range ws {
		if w.Invalidated.IsZero() {
			continue
		}
		b := bound
		if w.Node == r.Node {
			b = 0
		}
		if !w.Invalidated.Add(b).After(r.Start) && w.Version > v.Want {
			v.Want, v.Write = w.Version, w
		}
	}
	return v, v.Got < v.Want
}

// Around returns the history of v's key near v, oldest first, one event a
// line: every write of the key (its commit and, when it had one, its
// invalidation) and every read of it that overlapped the span from the
// commit of the write that set Want (or the read's start, for a phantom)
// less margin to the read's end plus margin. A failing run logs it, so
// that a stale read seen once can be studied from its run.
func Around(writes []Write, reads []Read, v Violation, margin time.Duration) []string {
	from := v.Read.Start
	if !v.Phantom && v.Write.Committed.Before(from) {
		from = v.Write.Committed
	}
	from, to := from.Add(-margin), v.Read.End.Add(margin)
	type event struct {
		at   time.Time
		line string
	}
	var evs []event
	in := func(t time.Time) bool { return !t.Before(from) && !t.After(to) }
	for _, w := range writes {
		if w.Key != v.Read.Key {
			continue
		}
		what := fmt.Sprintf("v%d", w.Version)
		if w.Deleted {
			what += " (deleted)"
		}
		if in(w.Committed) {
			evs = append(evs, event{w.Committed, fmt.Sprintf("%s committed %s", w.Committed.Format(stamp), what)})
		}
		if !w.Invalidated.IsZero() && in(w.Invalidated) {
			evs = append(evs, event{w.Invalidated, fmt.Sprintf("%s node %d's Invalidate of %s returned", w.Invalidated.Format(stamp), w.Node, what)})
		}
	}
	for _, r := range reads {
		if r.Key != v.Read.Key || r.End.Before(from) || r.Start.After(to) {
			continue
		}
		got := fmt.Sprintf("v%d", r.Version)
		if r.NotFound {
			got = "not found"
		}
		mark := ""
		if r == v.Read {
			mark = "  <- rejected"
		}
		evs = append(evs, event{r.Start, fmt.Sprintf("%s node %d read %s, until %s%s", r.Start.Format(stamp), r.Node, got, r.End.Format(stamp), mark)})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.line
	}
	return out
}
