package bus_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
)

func TestKeySignVerify(t *testing.T) {
	for _, secret := range []string{"k", strings.Repeat("long secret ", 10)} {
		k, err := bus.NewKey([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		m := bus.Message{Epoch: "e", Seq: 7, Origin: "n1", Deps: []deps.Dep{deps.Id("article", 1)}}
		plain := m.AppendEncode(nil)
		signed := k.Sign(plain)
		// The signature is HMAC-SHA1 of the unsigned message.
		h := hmac.New(sha1.New, []byte(secret))
		h.Write(plain)
		want := "M2\n" + hex.EncodeToString(h.Sum(nil)) + "\n" + strings.TrimPrefix(string(plain), "M1\n")
		if string(signed) != want {
			t.Fatalf("signed = %q, want %q", signed, want)
		}
		got, err := k.Verify(signed)
		if err != nil || string(got) != string(plain) {
			t.Fatalf("Verify = %q, %v", got, err)
		}
		other, _ := bus.NewKey([]byte("other"))
		altered := []byte(strings.Replace(string(signed), "\n7\n", "\n8\n", 1))
		for name, b := range map[string][]byte{
			"unsigned":  plain,
			"other key": other.Sign(plain),
			"altered":   altered,
			"truncated": signed[:20],
			"garbage":   []byte("M2\nxyz"),
		} {
			if _, err := k.Verify(b); !errors.Is(err, bus.ErrForged) {
				t.Errorf("%s: Verify err = %v, want ErrForged", name, err)
			}
		}
		// Without a key both forms pass (a rolling start).
		var none *bus.Key
		for _, b := range [][]byte{plain, signed} {
			if got, err := none.Verify(b); err != nil || string(got) != string(plain) {
				t.Errorf("no key: Verify(%q) = %q, %v", b, got, err)
			}
		}
	}
	if _, err := bus.NewKey(nil); err == nil {
		t.Fatal("NewKey accepted an empty secret")
	}
}

// A client that may publish on the channel but has no key forges the next
// sequence number with other dependencies. Without authentication the bus
// would apply it and drop the genuine message as a duplicate: the genuine
// invalidation would be lost. With a key the forgery is dropped and counted.
func TestForgedMessagesDropped(t *testing.T) {
	t.Parallel()
	key, err := bus.NewKey([]byte("shared secret"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withConfig(func(c *bus.Config) { c.Key = key }))
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)
	forged := bus.Message{Epoch: epoch, Seq: 2, Origin: "mallory", Deps: []deps.Dep{deps.Tag("decoy")}}
	other, _ := bus.NewKey([]byte("guess"))
	for _, p := range [][]byte{forged.AppendEncode(nil), other.Sign(forged.AppendEncode(nil))} {
		if err := e.rdb.Publish(bg(), channel, p).Err(); err != nil {
			t.Fatal(err)
		}
	}
	genuine := e.src.emit(t, both(deps.Id("article", 42)))[0]
	e.waitApplied(t, epoch, 1, 2)
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	for _, ev := range e.h.events {
		if !ev.reset && ev.msg.Seq == 2 && (len(ev.msg.Deps) != 1 || ev.msg.Deps[0] != genuine.Deps[0]) {
			t.Fatalf("applied %v as sequence 2, want the genuine %v", ev.msg.Deps, genuine.Deps)
		}
	}
	if s := e.bus.Stats(); s.Forged != 2 || s.Applied != 2 || s.Malformed != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func FuzzVerify(f *testing.F) {
	k, _ := bus.NewKey([]byte("fuzz"))
	m := bus.Message{Epoch: "e", Seq: 1, Origin: "o", Deps: []deps.Dep{deps.Tag("t")}}
	f.Add(k.Sign(m.AppendEncode(nil)))
	f.Add(m.AppendEncode(nil))
	f.Add([]byte("M2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := k.Verify(b)
		if err != nil {
			return
		}
		// Accepted: it was signed with the key, so signing what it carries
		// gives it back.
		if again := k.Sign(got); string(again) != string(b) {
			t.Fatalf("accepted %q, whose body signs to %q", b, again)
		}
	})
}
