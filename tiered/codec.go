package tiered

import "encoding/json"

// Codec turns values into bytes for Redis and back. It must be safe for
// concurrent use. Values in L1 are kept decoded, so a Codec runs only on a
// fill from Redis and on a put.
type Codec interface {
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v. data is read-only: it shares memory
	// with the string of Redis's reply, which is not copied.
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec, encoding/json.
type JSON struct{}

// Marshal encodes v with encoding/json.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data with encoding/json.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
