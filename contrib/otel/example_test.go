package matroskaotel_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/matroska-go/matroska"
	matroskaotel "github.com/matroska-go/matroska/contrib/otel"
	"github.com/matroska-go/matroska/tiered"
)

// The Observer goes in the Config before New; Register then reads the
// cache's figures at each collection. Here the providers record in memory,
// and the cache runs in one-process mode (no Redis needed; with
// Config.Redis set, reads of Redis, invalidations and sets make spans too).
func Example() {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	obs, err := matroskaotel.New(matroskaotel.Options{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		panic(err)
	}
	cache, err := tiered.New(tiered.Config{NodeID: "node-a", Observer: obs})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	reg, err := obs.Register(cache)
	if err != nil {
		panic(err)
	}
	defer reg.Unregister()

	for range 2 { // a load, then an L1 hit, which makes no span
		if _, err := matroska.GetOrLoad(ctx, cache, "greeting", func(context.Context, *matroska.Recorder) (string, error) {
			return "hello", nil
		}); err != nil {
			panic(err)
		}
	}
	for _, s := range spans.Ended() {
		fmt.Println("span:", s.Name())
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	figures := map[string]int64{} // by name and tier
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, p := range sum.DataPoints {
				tier, _ := p.Attributes.Value(matroskaotel.AttrTier)
				figures[m.Name+" "+tier.Emit()] = p.Value
			}
		}
	}
	fmt.Println("L1 hits:", figures["matroska.cache.hits l1"])
	fmt.Println("loads:", figures["matroska.cache.loads "])
	// Output:
	// span: matroska.load
	// L1 hits: 1
	// loads: 1
}
