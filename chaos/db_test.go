package chaos

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// Row is a row of the simulated database as its loader returns it.
type Row struct {
	ID      int
	Cat     int
	Version uint64
}

// List is "the rows of category Cat" as its loader returns it: Version is
// the category's version, which every change of its membership or of one
// of its rows bumps.
type List struct {
	Cat     int
	Version uint64
	Rows    []Row
}

// Page is built by a loader that nests the GetOrLoad of its category's
// list (the matroska doll): its version is the list's.
type Page struct {
	Cat     int
	Version uint64
	Count   int
}

type dbRow struct {
	cat     int
	version uint64
	deleted bool
}

// simDB is the simulated database: versioned rows, each in one category or
// deleted. A change is one commit under mu; loaders read under mu, so every
// load sees one committed state.
type simDB struct {
	mu     sync.Mutex
	rows   []dbRow
	catVer []uint64
}

func newDB(rows, cats int) (*simDB, []Write) {
	d := &simDB{rows: make([]dbRow, rows), catVer: make([]uint64, cats)}
	now := time.Now()
	var initial []Write
	for i := range d.rows {
		d.rows[i] = dbRow{cat: i % cats, version: 1}
		initial = append(initial, Write{Key: rowKey(i), Version: 1, Committed: now})
	}
	for c := range d.catVer {
		d.catVer[c] = 1
		initial = append(initial,
			Write{Key: listKey(c), Version: 1, Committed: now},
			Write{Key: pageKey(c), Version: 1, Committed: now})
	}
	return d, initial
}

// change is one commit: the writes it made (one per cached key that shows
// it, Invalidated still zero) and the dependencies to invalidate.
type change struct {
	writes []Write
	deps   []deps.Dep
}

// commit changes row id at random: an update in place, a move to another
// category, a deletion, or (for a deleted row) a re-creation. Updates in
// place invalidate only the row's id, which every list holding the row
// depends on; membership changes also invalidate the conditions of the
// categories left and joined, or (one time in ten) the whole type, as a
// filter that cannot be matched precisely would (G7).
func (d *simDB) commit(rng *rand.Rand, id, node int) change {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	r := &d.rows[id]
	var touched []int
	membership := true
	switch x := rng.Float64(); {
	case r.deleted:
		r.deleted = false
		r.cat = rng.IntN(len(d.catVer))
		touched = append(touched, r.cat)
	case x < 0.6:
		touched = append(touched, r.cat)
		membership = false
	case x < 0.88:
		old := r.cat
		r.cat = (old + 1 + rng.IntN(len(d.catVer)-1)) % len(d.catVer)
		touched = append(touched, old, r.cat)
	default:
		r.deleted = true
		touched = append(touched, r.cat)
	}
	r.version++
	ch := change{
		writes: []Write{{Key: rowKey(id), Version: r.version, Deleted: r.deleted, Node: node, Committed: now}},
		deps:   []deps.Dep{deps.Id("row", id)},
	}
	all := rng.IntN(10) == 0
	for _, c := range touched {
		d.catVer[c]++
		ch.writes = append(ch.writes,
			Write{Key: listKey(c), Version: d.catVer[c], Node: node, Committed: now},
			Write{Key: pageKey(c), Version: d.catVer[c], Node: node, Committed: now})
		if membership && !all {
			ch.deps = append(ch.deps, catCondition(c))
		}
	}
	if membership && all {
		ch.deps = append(ch.deps, deps.All("row"))
	}
	return ch
}

func (d *simDB) row(id int) (Row, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.rows[id]
	return Row{ID: id, Cat: r.cat, Version: r.version}, !r.deleted
}

func (d *simDB) list(cat int) List {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := List{Cat: cat, Version: d.catVer[cat]}
	for id, r := range d.rows {
		if !r.deleted && r.cat == cat {
			l.Rows = append(l.Rows, Row{ID: id, Cat: cat, Version: r.version})
		}
	}
	return l
}

// final returns every key's current version, and whether it reads as not
// found.
func (d *simDB) final() map[string]Write {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]Write{}
	for id, r := range d.rows {
		out[rowKey(id)] = Write{Key: rowKey(id), Version: r.version, Deleted: r.deleted}
	}
	for c, v := range d.catVer {
		out[listKey(c)] = Write{Key: listKey(c), Version: v}
		out[pageKey(c)] = Write{Key: pageKey(c), Version: v}
	}
	return out
}

func catCondition(c int) deps.Dep { return deps.Condition("row", map[string]any{"cat": c}) }

func rowKey(id int) string { return "row:" + itoa(id) }
func listKey(c int) string { return "cat:" + itoa(c) }
func pageKey(c int) string { return "page:" + itoa(c) }
func itoa(i int) string    { return deps.FormatValue(i) }
