package tiered_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/tiered"
)

// A cache whose entries are MessagePack, compressed with S2 above 1 KB.
// Every node of a namespace must use the same codec: entries record its
// name ("msgpack+s2"), and a node with another codec gets ErrCodecMismatch.
func ExampleCompressed() {
	codec := tiered.Compressed{Codec: tiered.Msgpack{}, Above: 1024}
	cache, err := tiered.New(tiered.Config{Codec: codec})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	page, err := matroska.GetOrLoad(context.Background(), cache, "page", func(ctx context.Context, rec *matroska.Recorder) (string, error) {
		return strings.Repeat("<p>matroska</p>", 500), nil
	})
	if err != nil {
		panic(err)
	}
	stored, _ := codec.Marshal(page)
	fmt.Println(codec.Name(), len(page), "bytes stored in", len(stored))
	// Output:
	// msgpack+s2 7500 bytes stored in 28
}
