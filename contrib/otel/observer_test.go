package matroskaotel_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	matroskaotel "github.com/matroska-go/matroska/contrib/otel"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// take returns the spans ended since the last take, by name (each name
// once), and the spans in the order they ended.
func (r *rig) take(t *testing.T) (map[string]sdktrace.ReadOnlySpan, []string) {
	t.Helper()
	all := r.spans.Ended()
	ended := all[r.taken:]
	r.taken = len(all)
	byName := map[string]sdktrace.ReadOnlySpan{}
	var names []string
	for _, s := range ended {
		if _, dup := byName[s.Name()]; dup {
			t.Errorf("two spans named %s", s.Name())
		}
		byName[s.Name()] = s
		names = append(names, s.Name())
	}
	return byName, names
}

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

// wantAttrs checks that span s has each of want, and none of absent.
func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want []attribute.KeyValue, absent ...attribute.Key) {
	t.Helper()
	got := attrs(s)
	for _, kv := range want {
		if v, ok := got[kv.Key]; !ok || v != kv.Value {
			t.Errorf("%s: %s = %q (set: %v), want %q", s.Name(), kv.Key, v.Emit(), ok, kv.Value.Emit())
		}
	}
	for _, k := range absent {
		if v, ok := got[k]; ok {
			t.Errorf("%s: %s = %q, want none", s.Name(), k, v.Emit())
		}
	}
}

// TestSpans: a miss makes a read span and a load span, children of the
// caller's, with the loader's own span a child of the load's; a hit makes
// none; a failing loader's span is an error, a loader's ErrNotFound is not;
// an invalidation and a set make theirs. Keys are left out by default.
func TestSpans(t *testing.T) {
	r := newRig(t, "node-a", matroskaotel.Options{})
	ctx, request := r.tracer.Start(context.Background(), "request")
	missThenHit(ctx, t, r.cache, "k", valued{r.tracer})
	request.End()

	spans, names := r.take(t)
	read, load, query := spans["matroska.read"], spans["matroska.load"], spans["db.query"]
	if len(names) != 4 || read == nil || load == nil || query == nil { // and the request's: the hits made none
		t.Fatalf("spans of a miss and hits: %v", names)
	}
	wantAttrs(t, read, []attribute.KeyValue{matroskaotel.AttrKeys.Int(1), matroskaotel.AttrFound.Int(0), extra}, matroskaotel.AttrKey)
	wantAttrs(t, load, []attribute.KeyValue{matroskaotel.AttrKeys.Int(1), matroskaotel.AttrFound.Int(1), matroskaotel.AttrRefresh.Bool(false), extra}, matroskaotel.AttrKey)
	if read.SpanKind() != trace.SpanKindClient || load.SpanKind() != trace.SpanKindInternal {
		t.Errorf("kinds: read %v, load %v", read.SpanKind(), load.SpanKind())
	}
	for _, s := range []sdktrace.ReadOnlySpan{read, load} {
		if s.Status().Code != codes.Unset || len(s.Events()) != 0 {
			t.Errorf("%s: status %v, events %v", s.Name(), s.Status(), s.Events())
		}
		if s.Parent().SpanID() != request.SpanContext().SpanID() {
			t.Errorf("%s: parent %v, want the request's %v", s.Name(), s.Parent().SpanID(), request.SpanContext().SpanID())
		}
	}
	if got := query.Parent().SpanID(); got != load.SpanContext().SpanID() {
		t.Errorf("the loader's span's parent is %v, want the load's %v", got, load.SpanContext().SpanID())
	}

	// A failing loader: its load span is an error, with the error recorded.
	boom := errors.New("boom")
	if _, err := tiered.GetOrLoadWith(ctx, r.cache, "fails", failing{boom}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	spans, names = r.take(t)
	if load = spans["matroska.load"]; load == nil || spans["matroska.read"] == nil || len(names) != 2 {
		t.Fatalf("spans of a failed load: %v", names)
	}
	if st := load.Status(); st.Code != codes.Error || st.Description != "boom" {
		t.Errorf("a failed load's status: %+v", st)
	}
	if ev := load.Events(); len(ev) != 1 || ev[0].Name != "exception" || !hasAttr(ev[0].Attributes, "exception.message", "boom") {
		t.Errorf("a failed load's events: %+v", ev)
	}
	if st := spans["matroska.read"].Status(); st.Code != codes.Unset {
		t.Errorf("the read before a failed load: %+v", st)
	}

	// A loader's ErrNotFound is an answer, not an error.
	if _, err := tiered.GetOrLoadWith(ctx, r.cache, "absent", failing{tiered.ErrNotFound}); !errors.Is(err, tiered.ErrNotFound) {
		t.Fatal(err)
	}
	spans, _ = r.take(t)
	if load = spans["matroska.load"]; load == nil || load.Status().Code != codes.Unset || len(load.Events()) != 0 {
		t.Fatalf("a load that found nothing: %+v", load)
	}
	wantAttrs(t, load, []attribute.KeyValue{matroskaotel.AttrFound.Int(0)})

	// An invalidation of two dependencies, and a set.
	if err := r.cache.Invalidate(ctx, deps.Tag("t"), deps.Id("item", 1)); err != nil {
		t.Fatal(err)
	}
	if err := r.cache.Set(ctx, "k2", "v2"); err != nil {
		t.Fatal(err)
	}
	spans, names = r.take(t)
	inv, set := spans["matroska.invalidate"], spans["matroska.set"]
	if len(names) != 2 || inv == nil || set == nil {
		t.Fatalf("spans of an invalidation and a set: %v", names)
	}
	wantAttrs(t, inv, []attribute.KeyValue{matroskaotel.AttrKeys.Int(2), extra}, matroskaotel.AttrKey, matroskaotel.AttrFound)
	wantAttrs(t, set, []attribute.KeyValue{matroskaotel.AttrKeys.Int(1), extra}, matroskaotel.AttrKey, matroskaotel.AttrFound)
	for _, s := range []sdktrace.ReadOnlySpan{inv, set} {
		if s.SpanKind() != trace.SpanKindClient || s.Status().Code != codes.Unset || s.Parent().SpanID() != request.SpanContext().SpanID() {
			t.Errorf("%s: kind %v, status %+v, parent %v", s.Name(), s.SpanKind(), s.Status(), s.Parent().SpanID())
		}
	}

	// Redis gone: the invalidation's span is an error.
	r.srv.Kill()
	if err := r.cache.Invalidate(ctx, deps.Tag("t")); err == nil {
		t.Fatal("an invalidation without Redis succeeded")
	}
	spans, _ = r.take(t)
	if inv = spans["matroska.invalidate"]; inv == nil || inv.Status().Code != codes.Error || len(inv.Events()) != 1 {
		t.Fatalf("an invalidation without Redis: %+v", inv)
	}
}

// TestRecordKeys: with RecordKeys, the spans of reads, loads and sets carry
// the key; an invalidation has none.
func TestRecordKeys(t *testing.T) {
	r := newRig(t, "node-k", matroskaotel.Options{RecordKeys: true})
	ctx := context.Background()
	if _, err := tiered.GetOrLoadWith(ctx, r.cache, "user:7", valued{}); err != nil {
		t.Fatal(err)
	}
	if err := r.cache.Set(ctx, "user:8", "v"); err != nil {
		t.Fatal(err)
	}
	if err := r.cache.Invalidate(ctx, deps.Tag("t")); err != nil {
		t.Fatal(err)
	}
	spans, names := r.take(t)
	if len(names) != 4 {
		t.Fatalf("spans: %v", names)
	}
	wantAttrs(t, spans["matroska.read"], []attribute.KeyValue{matroskaotel.AttrKey.String("user:7")})
	wantAttrs(t, spans["matroska.load"], []attribute.KeyValue{matroskaotel.AttrKey.String("user:7")})
	wantAttrs(t, spans["matroska.set"], []attribute.KeyValue{matroskaotel.AttrKey.String("user:8")})
	wantAttrs(t, spans["matroska.invalidate"], nil, matroskaotel.AttrKey)
}

// TestHitAllocatesNothing: with the Observer installed and registered on
// the global providers (no-ops: no SDK is installed), an L1 hit allocates
// nothing.
func TestHitAllocatesNothing(t *testing.T) {
	obs, err := matroskaotel.New(matroskaotel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := newNode(t, redistest.Start(t), "node-h", obs)
	reg, err := obs.Register(c)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	ctx := context.Background()
	missThenHit(ctx, t, c, "k", valued{})
	hit := func() {
		if v, err := tiered.GetOrLoadWith(ctx, c, "k", hitOnly{}); err != nil || v != "v" {
			t.Fatal(v, err)
		}
	}
	if allocs := testing.AllocsPerRun(200, hit); allocs != 0 {
		t.Errorf("an L1 hit allocates %v times", allocs)
	}
	if st := c.Stats(); st.L1Hits != 202 || st.Loads != 1 { // AllocsPerRun runs it once more to warm up
		t.Errorf("Stats: %d L1 hits, %d loads, want 202 and 1", st.L1Hits, st.Loads)
	}
}

func hasAttr(kvs []attribute.KeyValue, key, value string) bool {
	for _, kv := range kvs {
		if string(kv.Key) == key && kv.Value.AsString() == value {
			return true
		}
	}
	return false
}
