package remote_test

import (
	"fmt"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/remote"
)

func ExampleAppendEnvelope() {
	b := remote.AppendEnvelope(nil, remote.Envelope{
		Deps:    []deps.Dep{deps.Id("article", 7), deps.Tag("home")},
		Payload: []byte(`{"title":"hi"}`),
	})
	e, err := remote.DecodeEnvelope(b)
	fmt.Println(err, e.NotFound, e.Deps, string(e.Payload))

	_, err = remote.DecodeEnvelope(b[:62])
	fmt.Println(err)
	// Output:
	// <nil> false [id:article:7 tag:home] {"title":"hi"}
	// remote: corrupt entry: deps block of 21 bytes past the end
}
