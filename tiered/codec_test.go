package tiered_test

import (
	"context"
	"errors"
	"testing"

	"github.com/matroska-go/matroska"
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
