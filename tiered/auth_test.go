package tiered_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// With a MessageKey the scripts sign what they publish (on a single Redis
// and on a cluster alike) and the nodes apply only signed messages: a
// forged message that claims the next sequence number, which would
// otherwise make the nodes skip the genuine invalidation as a duplicate,
// is dropped and counted.
func TestSignedBroadcast(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 0)
		secret := []byte("shared secret")
		keyed := func(cfg *tiered.Config) { cfg.MessageKey = secret }
		var a, b *tiered.Cache
		if topo == "cluster" {
			a, b = newNode(t, cl.rc.Client(t), keyed), newNode(t, cl.rc.Client(t), keyed)
		} else {
			a, b = newNode(t, cl.srv.Client(t), keyed), newNode(t, cl.srv.Client(t), keyed)
		}
		version := 1
		load := func(context.Context, *matroska.Recorder) (int, error) { return version, nil }
		dep := matroska.Depend(deps.Id("row", 1))
		if v, err := matroska.GetOrLoad(bg(), b, "row:1", load, dep); err != nil || v != 1 {
			t.Fatalf("B: %v, %v", v, err)
		}
		// The forgery: the next sequence number, an unrelated dependency.
		st := b.Stats().Bus
		forged := bus.Message{Epoch: st.Epoch, Seq: st.Seq + 1, Origin: "mallory", Deps: []deps.Dep{deps.Tag("decoy")}}
		publish(t, cl.rdb, topo, "t:inv", forged.AppendEncode(nil))
		waitFor(t, 5*time.Second, "B drops the forged message", func() bool { return b.Stats().Bus.Forged == 1 })

		version = 2
		if err := a.Invalidate(bg(), deps.Id("row", 1)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "B applies A's signed invalidation", func() bool {
			return b.Stats().InvalidationsApplied > 0
		})
		if v, err := matroska.GetOrLoad(bg(), b, "row:1", load, dep); err != nil || v != 2 {
			t.Fatalf("B after the invalidation: %v, %v (want 2)", v, err)
		}
		if s := b.Stats().Bus; s.Forged != 1 || s.Malformed != 0 {
			t.Fatalf("B's bus: %+v", s)
		}
	})
}

func publish(t *testing.T, rdb redis.UniversalClient, topo, channel string, payload []byte) {
	t.Helper()
	var err error
	if topo == "cluster" {
		err = rdb.SPublish(bg(), "{t}:inv", payload).Err()
	} else {
		err = rdb.Publish(bg(), channel, payload).Err()
	}
	if err != nil {
		t.Fatal(err)
	}
}
