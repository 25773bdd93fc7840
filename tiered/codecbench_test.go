package tiered_test

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/matroska-go/matroska/tiered"
)

// codecItem is the bench item (bench/, BenchmarkL2HitVsRaw): about 300
// bytes of JSON.
type codecItem struct {
	ID      int
	Version int
	Name    string
	Tags    []string
	Body    string
}

// BenchmarkCodecs encodes and decodes the bench item and a list of them of
// about 20 KB of JSON with each codec; bytes/value is what Redis stores.
// Compare within one run.
func BenchmarkCodecs(b *testing.B) {
	item := codecItem{ID: 7, Version: 3, Name: "item 7", Tags: []string{"cache", "go", "redis"}, Body: strings.Repeat("matroska ", 18)[:160]}
	// The list's items have bodies of words drawn at random (seeded), so
	// that it compresses as text does, not as one body repeated.
	words := strings.Fields("cache redis invalidation node entry value key list tag page author article version epoch sequence bus lease refresh stale load")
	rng := rand.New(rand.NewPCG(1, 2))
	var list []codecItem
	for i := range 80 {
		it := item
		it.ID, it.Name = i, "item "+strconv.Itoa(i)
		var body []string
		for range 24 {
			body = append(body, words[rng.IntN(len(words))])
		}
		it.Body = strings.Join(body, " ")
		list = append(list, it)
	}
	codecs := []tiered.NamedCodec{
		tiered.JSON{}, tiered.Msgpack{},
		tiered.Compressed{Codec: tiered.JSON{}}, tiered.Compressed{Codec: tiered.Msgpack{}},
	}
	values := []struct {
		name string
		v    any
		into func() any
	}{
		{"item", item, func() any { return new(codecItem) }},
		{"list20k", list, func() any { return new([]codecItem) }},
	}
	for _, val := range values {
		for _, codec := range codecs {
			enc, err := codec.Marshal(val.v)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(val.name+"/"+codec.Name()+"/encode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := codec.Marshal(val.v); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(enc)), "bytes/value")
			})
			b.Run(val.name+"/"+codec.Name()+"/decode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := codec.Unmarshal(enc, val.into()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(enc)), "bytes/value")
			})
		}
	}
}
