package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/remote"
	"github.com/matroska-go/matroska/tiered"
)

// Values of the codec workload (CodecRow.Value).
const (
	CodecItem = "item" // the item every workload caches, about 300 bytes of JSON
	CodecList = "list" // codecListItems items, about 20 KB of JSON
)

// codecListItems is the length of the codec workload's list.
const codecListItems = 60

// codecRounds is the number of turns each codec takes at each encoding and
// decoding; codecReadRound is the number of reads of each turn of the L2
// hit of the list.
const (
	codecRounds    = 5
	codecReadRound = 25
)

// CodecPeer is implemented by an adapter whose cache encodes values with a
// codec of its own by default (go-redis/cache: msgpack and s2), which the
// codec workload measures on the same values as this library's codecs: the
// time to encode and decode, and the size. Such a cache stores the encoding
// in Redis as it is.
type CodecPeer interface {
	PeerCodec() (name string, codec tiered.Codec)
}

// libraryCodecs are the codecs this library ships, as the codec workload
// measures them: JSON, msgpack, and each compressed with S2 above 1024
// bytes.
func libraryCodecs() []tiered.NamedCodec {
	return []tiered.NamedCodec{
		tiered.JSON{}, tiered.Msgpack{},
		tiered.Compressed{Codec: tiered.JSON{}}, tiered.Compressed{Codec: tiered.Msgpack{}},
	}
}

// codecList is the list value of the codec workload: codecListItems items
// whose bodies are words drawn at random (seeded), so that the list
// compresses as text does, not as one body repeated; about 20 KB of JSON.
func codecList() []Item {
	words := strings.Fields("cache redis invalidation node entry value key list tag page author article version epoch sequence bus lease refresh stale load")
	rng := rand.New(rand.NewPCG(1, 2))
	list := make([]Item, codecListItems)
	for i := range list {
		var body []string
		for range 40 {
			body = append(body, words[rng.IntN(len(words))])
		}
		list[i] = Item{ID: i, Version: 1, Name: "item " + strconv.Itoa(i), Tags: []string{"cache", "go", "redis"}, Body: strings.Join(body, " ")}
	}
	return list
}

// withCodec returns m with every node encoding with codec.
func (m Matroska) withCodec(codec tiered.Codec) Matroska {
	prev := m.Configure
	m.Configure = func(cfg *tiered.Config) {
		if prev != nil {
			prev(cfg)
		}
		cfg.Codec = codec
	}
	return m
}

// codecCase is one codec under test and its rows.
type codecCase struct {
	adapter string
	name    string
	codec   tiered.Codec
	m       *Matroska // the library's adapter with this codec; nil for a peer's codec
	rows    []*CodecRow
	enc     [][]byte // the encoding of each value
	read    *CodecReadRow
}

// codecValue is a value of the codec workload and a new pointer to decode
// it into.
type codecValue struct {
	name string
	v    any
	into func() any
}

// codecs measures the codecs of this library (and of the peers that are a
// CodecPeer) on the harness's item and on a list of about 20 KB: the time
// to encode and to decode, in turns of codecRounds; the size encoded and,
// for this library, as stored in Redis (STRLEN of the entry, the envelope
// included); and the L2 hit of the list through the cache, with each codec
// in turn, as in the L2 hit workload.
func (r *runner) codecs(ctx context.Context, adapters []Adapter, res *Results) error {
	item, err := NewSource(0, 0).Load(ctx, Key(7))
	if err != nil {
		return err
	}
	values := []codecValue{
		{CodecItem, item, func() any { return new(Item) }},
		{CodecList, codecList(), func() any { return new([]Item) }},
	}
	var cases []*codecCase
	for _, a := range adapters {
		if !runsOn(a, WCodec) {
			continue
		}
		r.prog.Step("codecs", a.Name())
		switch x := a.(type) {
		case Matroska:
			for _, c := range libraryCodecs() {
				m := x.withCodec(c)
				cases = append(cases, &codecCase{adapter: a.Name(), name: c.Name(), codec: c, m: &m,
					read: &CodecReadRow{Adapter: a.Name(), Codec: c.Name()}})
			}
		case CodecPeer:
			name, c := x.PeerCodec()
			cases = append(cases, &codecCase{adapter: a.Name(), name: name, codec: c})
		}
	}
	for _, cc := range cases {
		for _, v := range values {
			js, err := json.Marshal(v.v)
			if err != nil {
				return err
			}
			enc, err := cc.codec.Marshal(v.v)
			if err != nil {
				return fmt.Errorf("codec %s: %w", cc.name, err)
			}
			row := &CodecRow{Adapter: cc.adapter, Codec: cc.name, Value: v.name, JSONBytes: len(js), Encoded: len(enc), Stored: len(enc)}
			if cc.m == nil {
				row.Note = "stored as encoded (no envelope)"
			}
			if c, ok := cc.codec.(tiered.Compressed); ok {
				above := c.Above
				if above <= 0 {
					above = 1024
				}
				if inner, err := c.Codec.Marshal(v.v); err == nil && len(inner) <= above {
					row.Note = fmt.Sprintf("not compressed: %d bytes or less", above)
				}
			}
			cc.rows = append(cc.rows, row)
			cc.enc = append(cc.enc, enc)
		}
	}
	r.timeCodecs(cases, values)

	var lanes []*codecLane
	defer func() {
		for _, l := range lanes {
			l.close(r)
		}
	}()
	for _, cc := range cases {
		if cc.m == nil {
			continue
		}
		l, err := r.openCodecLane(ctx, cc, values)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Errors = append(res.Errors, fmt.Sprintf("codec %s / %s: %v", cc.read.Codec, cc.read.Adapter, err))
			continue
		}
		lanes = append(lanes, l)
	}
	err = inTurns(ctx, lanes, codecReadRound, func(l *codecLane) int { return len(l.keys) }, func(l *codecLane, from, to int) error {
		if l.err = l.turn(ctx, from, to); l.err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("codec %s / %s: L2 hit: %v", l.cc.read.Codec, l.cc.read.Adapter, l.err))
		}
		return l.err
	}, (*codecLane).finish)
	if err != nil {
		return err
	}
	for _, cc := range cases {
		for _, row := range cc.rows {
			res.Codec = append(res.Codec, *row)
		}
	}
	for _, cc := range cases {
		if cc.read != nil {
			res.CodecRead = append(res.CodecRead, *cc.read)
		}
	}
	return nil
}

// timeCodecs times every case's encoding and decoding of every value: the
// cases take turns, codecRounds of them, each running an operation for
// CodecDuration/codecRounds.
func (r *runner) timeCodecs(cases []*codecCase, values []codecValue) {
	type acc struct {
		ops, mallocs uint64
		took         time.Duration
	}
	enc := make([][]acc, len(cases))
	dec := make([][]acc, len(cases))
	for i := range cases {
		enc[i], dec[i] = make([]acc, len(values)), make([]acc, len(values))
	}
	d := r.cfg.CodecDuration / codecRounds
	for range codecRounds {
		for i, cc := range cases {
			for j, v := range values {
				ops, took, mallocs, err := timeOps(d, func() error {
					_, err := cc.codec.Marshal(v.v)
					return err
				})
				e := &enc[i][j]
				e.ops, e.took, e.mallocs = e.ops+ops, e.took+took, e.mallocs+mallocs
				if err != nil {
					cc.rows[j].Note = joinNote(cc.rows[j].Note, "encode: "+err.Error())
				}
				ops, took, mallocs, err = timeOps(d, func() error {
					return cc.codec.Unmarshal(cc.enc[j], v.into())
				})
				e = &dec[i][j]
				e.ops, e.took, e.mallocs = e.ops+ops, e.took+took, e.mallocs+mallocs
				if err != nil {
					cc.rows[j].Note = joinNote(cc.rows[j].Note, "decode: "+err.Error())
				}
			}
		}
	}
	for i, cc := range cases {
		for j, row := range cc.rows {
			e, x := enc[i][j], dec[i][j]
			row.EncodeNs = float64(e.took.Nanoseconds()) / float64(e.ops)
			row.EncodeAllocs = float64(e.mallocs) / float64(e.ops)
			row.DecodeNs = float64(x.took.Nanoseconds()) / float64(x.ops)
			row.DecodeAllocs = float64(x.mallocs) / float64(x.ops)
			row.Measured = true
		}
	}
}

// timeOps runs op for d (at least once), checking the clock every few
// operations, and returns the operations run, the time they took and the
// heap allocations of the process meanwhile.
func timeOps(d time.Duration, op func() error) (ops uint64, took time.Duration, mallocs uint64, err error) {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	for ops == 0 || time.Since(start) < d {
		for range 4 {
			if err = op(); err != nil {
				break
			}
			ops++
		}
		if err != nil {
			break
		}
	}
	took = time.Since(start)
	runtime.ReadMemStats(&m1)
	return max(ops, 1), took, m1.Mallocs - m0.Mallocs, err
}

// codecLane is the L2 hit of the list with one codec of this library.
type codecLane struct {
	cc     *codecCase
	env    *Env
	list   []Item
	reader Node
	cache  *tiered.Cache
	keys   []string
	lat    []time.Duration
	total  time.Duration
	loads  atomic.Int64
	rt     int64
	err    error
}

// errCodecLoad is what the loader of the L2 hit of the list returns after
// counting the call: every key is in Redis.
var errCodecLoad = errors.New("workload: the list was loaded, not read from Redis")

// openCodecLane writes the item and CodecReads+5 copies of the list (keys
// "list:<n>", each depending on deps.Id("list", n)) through a node with
// cc's codec, reads the size of the Redis strings of the item and of one
// list, and opens a reader that has read the first 5 lists only.
func (r *runner) openCodecLane(ctx context.Context, cc *codecCase, values []codecValue) (*codecLane, error) {
	const warm = 5
	l := &codecLane{cc: cc, env: r.env(NewSource(0, 0)), list: values[1].v.([]Item)}
	item := values[0].v.(Item)
	w, err := cc.m.Open(ctx, l.env)
	if err != nil {
		r.finish(l.env)
		return nil, err
	}
	wc := w.(*matroskaNode).Cache()
	_, err = matroska.GetOrLoad(ctx, wc, Key(item.ID), func(ctx context.Context, rec *matroska.Recorder) (Item, error) {
		rec.Depend(ItemDep(item.ID))
		return item, nil
	})
	for i := 0; err == nil && i < r.cfg.CodecReads+warm; i++ {
		key := "list:" + strconv.Itoa(i)
		l.keys = append(l.keys, key)
		_, err = matroska.GetOrLoad(ctx, wc, key, func(ctx context.Context, rec *matroska.Recorder) ([]Item, error) {
			rec.Depend(deps.Id("list", i))
			return l.list, nil
		})
	}
	_ = w.Close()
	if err != nil {
		r.finish(l.env)
		return nil, fmt.Errorf("fill: %w", err)
	}
	st, err := remote.New(remote.Config{Redis: r.admin, Namespace: l.env.Namespace})
	if err != nil {
		r.finish(l.env)
		return nil, err
	}
	for j, key := range []string{Key(item.ID), l.keys[0]} {
		n, err := r.admin.StrLen(ctx, st.EntryKey(key)).Result()
		if err == nil && n == 0 {
			err = fmt.Errorf("no entry %s in Redis", st.EntryKey(key))
		}
		if err != nil {
			r.finish(l.env)
			return nil, err
		}
		cc.rows[j].Stored = int(n)
	}
	if l.reader, err = cc.m.Open(ctx, l.env); err != nil {
		r.finish(l.env)
		return nil, err
	}
	l.cache = l.reader.(*matroskaNode).Cache()
	for _, key := range l.keys[:warm] {
		if _, err := l.get(ctx, key); err != nil {
			l.close(r)
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	l.keys = l.keys[warm:]
	l.rt = l.env.MeasuredRoundTrips()
	return l, nil
}

func (l *codecLane) get(ctx context.Context, key string) ([]Item, error) {
	return matroska.GetOrLoad(ctx, l.cache, key, func(context.Context, *matroska.Recorder) ([]Item, error) {
		l.loads.Add(1)
		return nil, errCodecLoad
	})
}

// turn reads keys[from:to], timing each read.
func (l *codecLane) turn(ctx context.Context, from, to int) error {
	mctx := l.env.Measure(ctx)
	for i := from; i < to; i++ {
		start := time.Now()
		got, err := l.get(mctx, l.keys[i])
		d := time.Since(start)
		if err != nil {
			return err
		}
		if len(got) != len(l.list) {
			return fmt.Errorf("read %s: %d items, want %d", l.keys[i], len(got), len(l.list))
		}
		l.lat = append(l.lat, d)
		l.total += d
	}
	return nil
}

func (l *codecLane) finish() {
	row := l.cc.read
	row.Reads = len(l.lat)
	row.Loads = l.loads.Load()
	row.Measured = true
	if row.Reads == 0 {
		return
	}
	row.Mean, row.P50, row.P99 = spread(l.lat, l.total)
	row.RTOp = float64(l.env.MeasuredRoundTrips()-l.rt) / float64(row.Reads)
}

// close closes the lane's reader and deletes its keys.
func (l *codecLane) close(r *runner) {
	if l.reader != nil {
		_ = l.reader.Close()
		l.reader = nil
		r.finish(l.env)
	}
}
