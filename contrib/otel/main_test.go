package matroskaotel_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	matroskaotel "github.com/matroska-go/matroska/contrib/otel"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// extra is the attribute the tests give Options.Attributes.
var extra = attribute.String("deployment.environment.name", "test")

// rig is a node on a private Redis with an Observer that records into
// in-memory SDK providers.
type rig struct {
	srv    *redistest.Server
	cache  *tiered.Cache
	obs    *matroskaotel.Observer
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tracer trace.Tracer // of the same provider: the loaders' own spans
	taken  int          // spans already taken (observer_test.go)
}

// newRig starts Redis and a node named node on it, registers the
// Observer's metrics, and waits until the node serves L1.
func newRig(t *testing.T, node string, opts matroskaotel.Options) *rig {
	t.Helper()
	r := &rig{srv: redistest.Start(t), spans: tracetest.NewSpanRecorder()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	r.tracer = tp.Tracer("app")
	rd := newReader(t)
	r.reader = rd.ManualReader
	opts.TracerProvider, opts.MeterProvider = tp, rd.provider
	opts.Attributes = append(opts.Attributes, extra)
	obs, err := matroskaotel.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.obs = obs
	r.cache = newNode(t, r.srv, node, obs)
	reg, err := obs.Register(r.cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Unregister() })
	return r
}

// newNode makes a node on srv with obs as its Observer, closed when the
// test ends, and waits until it serves L1.
func newNode(t *testing.T, srv *redistest.Server, node string, obs tiered.Observer) *tiered.Cache {
	t.Helper()
	c, err := tiered.New(tiered.Config{
		Redis:        srv.Client(t),
		Namespace:    "otel",
		NodeID:       node,
		RedisTimeout: 300 * time.Millisecond,
		Observer:     obs,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	waitFor(t, "the node is ready", func() bool { return c.Ready(context.Background()) == nil })
	return c
}

// waitFor polls cond until it holds, for 5 seconds at most.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// missThenHit loads key (a miss in both tiers), then reads it until L1
// answers once: the fill reaches L1 within a tick, and reads before that
// are answered from Redis.
func missThenHit(ctx context.Context, t *testing.T, c *tiered.Cache, key string, l tiered.Loader[string]) {
	t.Helper()
	if v, err := tiered.GetOrLoadWith(ctx, c, key, l); err != nil || v != "v" {
		t.Fatal(v, err)
	}
	waitFor(t, "an L1 hit", func() bool {
		if v, err := tiered.GetOrLoadWith(ctx, c, key, hitOnly{}); err != nil || v != "v" {
			t.Fatal(v, err)
		}
		return c.Stats().L1Hits == 1
	})
}

// valued is a loader of "v" that depends on tag:t, and makes a span of its
// own with tracer if there is one.
type valued struct{ tracer trace.Tracer }

func (l valued) Load(ctx context.Context, rec *tiered.Recorder) (string, error) {
	if l.tracer != nil {
		_, span := l.tracer.Start(ctx, "db.query")
		span.End()
	}
	rec.Depend(deps.Tag("t"))
	return "v", nil
}

// failing is a loader that returns err.
type failing struct{ err error }

func (l failing) Load(context.Context, *tiered.Recorder) (string, error) { return "", l.err }

// hitOnly is a loader that fails the test's expectations if called.
type hitOnly struct{}

func (hitOnly) Load(context.Context, *tiered.Recorder) (string, error) {
	return "", errors.New("loaded on a hit")
}

// reader is a MeterProvider and its ManualReader.
type reader struct {
	*sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
}

// newReader returns a MeterProvider with a ManualReader, shut down when the
// test ends.
func newReader(t *testing.T) reader {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return reader{r, mp}
}

// collect reads every metric of the reader now.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != matroskaotel.ScopeName {
			t.Errorf("metrics of scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}
