package tiered_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// hidden has only unexported fields: JSON encodes it as {}.
type hidden struct{ n int }

// An L1 entry is what every node can read: a value that loses part of
// itself in the codec is lost alike on the node that loaded it, never kept
// whole there while the others read what Redis holds.
func TestL1HoldsWhatOtherNodesRead(t *testing.T) {
	cl := newCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	load := func(context.Context, *matroska.Recorder) (hidden, error) { return hidden{n: 5}, nil }
	first, err := matroska.GetOrLoad(bg(), a, "k", load)
	if err != nil {
		t.Fatal(err)
	}
	onB, err := matroska.GetOrLoad(bg(), b, "k", load)
	if err != nil {
		t.Fatal(err)
	}
	onA, err := matroska.GetOrLoad(bg(), a, "k", load)
	if err != nil {
		t.Fatal(err)
	}
	if onA != onB || first != onB {
		t.Fatalf("GetOrLoad: the loading node returned %+v, then served %+v from L1; the other node read %+v", first, onA, onB)
	}
	if st := a.Stats(); st.Loads != 1 || st.L1Hits != 1 {
		t.Fatalf("node A: %d loads, %d L1 hits; want 1 and 1", st.Loads, st.L1Hits)
	}

	if err := matroska.Set(bg(), a, "s", hidden{n: 5}); err != nil {
		t.Fatal(err)
	}
	setA, err := matroska.Get[hidden](bg(), a, "s")
	if err != nil {
		t.Fatal(err)
	}
	setB, err := matroska.Get[hidden](bg(), b, "s")
	if err != nil {
		t.Fatal(err)
	}
	if setA != setB {
		t.Fatalf("Set: the writing node serves %+v, the other reads %+v", setA, setB)
	}
}

// carrier's field is a non-empty interface: JSON encodes it, but cannot
// decode it back, so no node could ever read the entry.
type carrier struct{ Err error }

func TestUndecodableValueIsErrEncode(t *testing.T) {
	for _, mode := range []string{"one-process", "redis"} {
		t.Run(mode, func(t *testing.T) {
			var c *tiered.Cache
			if mode == "redis" {
				c = newCluster(t, 1).nodes[0]
			} else {
				c = newNode(t, nil)
			}
			loads := 0
			load := func(context.Context, *matroska.Recorder) (carrier, error) {
				loads++
				return carrier{Err: errors.New("x")}, nil
			}
			for range 2 {
				if _, err := matroska.GetOrLoad(bg(), c, "k", load); !errors.Is(err, matroska.ErrEncode) {
					t.Fatalf("GetOrLoad of an undecodable value: %v, want ErrEncode", err)
				}
			}
			if loads != 2 {
				t.Fatalf("%d loads: an undecodable value was cached", loads)
			}
			if err := matroska.Set(bg(), c, "s", carrier{Err: errors.New("x")}); !errors.Is(err, matroska.ErrEncode) {
				t.Fatalf("Set of an undecodable value: %v, want ErrEncode", err)
			}
		})
	}
}

// clientOf returns a new client of cl's deployment.
func clientOf(t *testing.T, cl *cluster) redis.UniversalClient {
	if cl.rc != nil {
		return cl.rc.Client(t)
	}
	return cl.srv.Client(t)
}

type mpArticle struct {
	ID    int
	Title string
	Tags  []string
}

// TestMsgpackCodec: nodes that use Msgpack share entries through Redis.
func TestMsgpackCodec(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 0)
		msgpack := func(cfg *tiered.Config) { cfg.Codec = tiered.Msgpack{} }
		a, b := newNode(t, clientOf(t, cl), msgpack), newNode(t, clientOf(t, cl), msgpack)
		want := mpArticle{ID: 7, Title: "Caching", Tags: []string{"go", "redis"}}
		var loads atomic.Int64
		load := func(ctx context.Context, rec *matroska.Recorder) (mpArticle, error) {
			loads.Add(1)
			rec.Depend(deps.Id("article", 7))
			return want, nil
		}
		for _, c := range []*tiered.Cache{a, b} {
			got, err := matroska.GetOrLoad(bg(), c, "a7", load)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%+v, %v; want %+v", got, err, want)
			}
		}
		if loads.Load() != 1 || b.Stats().L2Hits != 1 {
			t.Fatalf("%d loads, B's L2 hits %d; want one load and B reading A's entry", loads.Load(), b.Stats().L2Hits)
		}
	})
}

// TestCodecMismatch: a node whose codec differs from the one an entry was
// written with gets ErrCodecMismatch, not garbage: with its loader's value
// from GetOrLoad (which replaces the entry), alone from Get.
func TestCodecMismatch(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 0)
		jsonNode := newNode(t, clientOf(t, cl))
		mpNode := newNode(t, clientOf(t, cl), func(cfg *tiered.Config) { cfg.Codec = tiered.Msgpack{} })
		load := func(v int) matroska.LoadFunc[int] {
			return func(ctx context.Context, rec *matroska.Recorder) (int, error) { return v, nil }
		}
		if v, err := matroska.GetOrLoad(bg(), jsonNode, "k", load(1)); err != nil || v != 1 {
			t.Fatal(v, err)
		}
		v, err := matroska.GetOrLoad(bg(), mpNode, "k", load(2))
		if !errors.Is(err, matroska.ErrCodecMismatch) || v != 2 {
			t.Fatalf("msgpack node: %d, %v; want its loader's 2 with ErrCodecMismatch", v, err)
		}
		if n := mpNode.Stats().CodecMismatches; n != 1 {
			t.Fatalf("CodecMismatches = %d", n)
		}
		// The entry is msgpack now: a JSON node that reads it from Redis says so.
		other := newNode(t, clientOf(t, cl))
		if _, err := matroska.Get[int](bg(), other, "k"); !errors.Is(err, matroska.ErrCodecMismatch) {
			t.Fatalf("JSON node's Get: %v, want ErrCodecMismatch", err)
		}
	})
	if _, err := tiered.New(tiered.Config{Codec: longName{}}); !errors.Is(err, tiered.ErrConfig) {
		t.Fatalf("a codec name of 17 bytes: %v, want ErrConfig", err)
	}
}

type longName struct{ tiered.JSON }

func (longName) Name() string { return "seventeen-letters" }

// TestCompressed: a Compressed codec stores small encodings as they are and
// large ones compressed, reads both back, checks MaxValueSize after
// compression, and names itself apart from its inner codec.
func TestCompressed(t *testing.T) {
	codec := tiered.Compressed{Codec: tiered.Msgpack{}, Above: 64}
	if codec.Name() != "msgpack+s2" {
		t.Fatalf("Name = %q", codec.Name())
	}
	small := mpArticle{ID: 1, Title: "a"}
	large := mpArticle{ID: 2, Title: strings.Repeat("matroska ", 2000)}
	for _, v := range []mpArticle{small, large} {
		b, err := codec.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := tiered.Msgpack{}.Marshal(v)
		if compressed := b[0] == 's'; compressed != (len(plain) > 64) || (compressed && len(b) >= len(plain)/4) {
			t.Fatalf("%d plain bytes stored as %d (form %q)", len(plain), len(b), b[0])
		}
		var back mpArticle
		if err := codec.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("round trip: %v", err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("x"), []byte("s\xff\xff")} {
		var v mpArticle
		if err := codec.Unmarshal(bad, &v); err == nil {
			t.Fatalf("Unmarshal(%q) = nil error", bad)
		}
	}
	// 18 KB of text compresses under MaxValueSize: cached.
	cl := newClusterOn(t, "standalone", 0)
	c := newNode(t, clientOf(t, cl), func(cfg *tiered.Config) { cfg.Codec = codec; cfg.MaxValueSize = 4096 })
	var loads atomic.Int64
	load := func(ctx context.Context, rec *matroska.Recorder) (mpArticle, error) {
		loads.Add(1)
		return large, nil
	}
	for range 2 {
		if v, err := matroska.GetOrLoad(bg(), c, "big", load); err != nil || v.ID != 2 {
			t.Fatal(v.ID, err)
		}
	}
	if loads.Load() != 1 {
		t.Fatalf("%d loads: the compressed value was not cached", loads.Load())
	}
	plain := newNode(t, clientOf(t, cl), func(cfg *tiered.Config) { cfg.Codec = tiered.Msgpack{} })
	if _, err := matroska.Get[mpArticle](bg(), plain, "big"); !errors.Is(err, matroska.ErrCodecMismatch) {
		t.Fatalf("a node without compression: %v, want ErrCodecMismatch", err)
	}
}
