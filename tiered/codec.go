package tiered

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/klauspost/compress/s2"
	"github.com/vmihailenco/msgpack/v5"
)

// Codec turns values into bytes for Redis and back. It must be safe for
// concurrent use. Values in L1 are kept decoded, so a Codec runs only on a
// fill from Redis, and on a put or a Set, which encode the value and decode
// it again: L1 holds what the other nodes read from Redis (see decoded).
//
// A Codec that also has a Name method (see [NamedCodec]) has entries
// record its name: a node whose codec has another name then meets
// ErrCodecMismatch instead of decoding another codec's bytes.
type Codec interface {
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v. data is read-only: it shares memory
	// with the string of Redis's reply, which is not copied.
	Unmarshal(data []byte, v any) error
}

// NamedCodec is a Codec with a name, recorded in every entry it encodes: at
// most 16 bytes, no NUL (New refuses another with ErrConfig).
type NamedCodec interface {
	Codec
	Name() string
}

// codecName is the name entries record for codec: "" for a Codec without
// one (its entries are decoded by every node, as they come).
func codecName(codec Codec) string {
	if n, ok := codec.(NamedCodec); ok {
		return n.Name()
	}
	return ""
}

// JSON is the default Codec, encoding/json.
type JSON struct{}

// Name is "json".
func (JSON) Name() string { return "json" }

// Marshal encodes v with encoding/json.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes data with encoding/json.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// decoded returns v as every node reads it back from payload, its encoding:
// decoded by decode (the caller's type), or, with none, into a new value of
// v's own type. A put or a Set stores that in L1 and returns it, never v
// itself, so that the node that wrote a value serves what the other nodes
// read from Redis: a value that loses part of itself in the codec (a struct
// with unexported fields, an int in an interface that JSON makes a
// float64) loses it on every node alike. A payload that does not decode is
// ErrEncode: no node could read it.
//
// It costs one decoding on a load's miss path and in Set, none on a hit.
func (c *Cache) decoded(v any, payload []byte, decode func([]byte) (any, error)) (any, error) {
	var err error
	if decode != nil {
		v, err = decode(payload)
	} else if t := reflect.TypeOf(v); t != nil {
		p := reflect.New(t)
		if err = c.cfg.Codec.Unmarshal(payload, p.Interface()); err == nil {
			v = p.Elem().Interface()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: its encoding does not decode, so no node could read it: %w", ErrEncode, err)
	}
	return v, nil
}

// Msgpack is a Codec of MessagePack (github.com/vmihailenco/msgpack/v5):
// smaller payloads than JSON and faster to decode. Struct fields are
// encoded by name (the msgpack tag, else the field name), so a type can
// gain fields without breaking entries already written; nodes of one
// namespace must all use it (see NamedCodec).
type Msgpack struct{}

// Name is "msgpack".
func (Msgpack) Name() string { return "msgpack" }

// Marshal encodes v with msgpack.
func (Msgpack) Marshal(v any) ([]byte, error) { return msgpack.Marshal(v) }

// Unmarshal decodes data with msgpack.
func (Msgpack) Unmarshal(data []byte, v any) error { return msgpack.Unmarshal(data, v) }

// Compressed wraps a Codec with S2 compression (github.com/klauspost/compress,
// a faster Snappy) of the encodings longer than Above bytes (default 1024):
// a large list or page costs less Redis memory and network; a small value
// is stored as it is. Config.MaxValueSize applies to what is stored, after
// compression. Its name is the inner codec's with "+s2" (so nodes that
// compress and nodes that do not tell each other's entries apart); the
// inner codec must have a name of at most 13 bytes.
type Compressed struct {
	Codec Codec
	Above int
}

// Name is the inner codec's name and "+s2".
func (c Compressed) Name() string { return codecName(c.Codec) + "+s2" }

// The first byte of a Compressed encoding: the rest is the inner codec's
// encoding as it is, or compressed with S2.
const (
	rawEncoding = 'r'
	s2Encoding  = 's'
)

// Marshal encodes v with the inner codec and compresses the result when it
// is longer than Above.
func (c Compressed) Marshal(v any) ([]byte, error) {
	b, err := c.Codec.Marshal(v)
	if err != nil {
		return nil, err
	}
	above := c.Above
	if above <= 0 {
		above = 1024
	}
	if len(b) <= above {
		return append([]byte{rawEncoding}, b...), nil
	}
	out := make([]byte, 1+s2.MaxEncodedLen(len(b)))
	out[0] = s2Encoding
	return out[:1+len(s2.Encode(out[1:], b))], nil
}

// Unmarshal decompresses data when it was compressed and decodes it with
// the inner codec.
func (c Compressed) Unmarshal(data []byte, v any) error {
	if len(data) == 0 {
		return fmt.Errorf("matroska: compressed encoding: empty")
	}
	switch data[0] {
	case rawEncoding:
		return c.Codec.Unmarshal(data[1:], v)
	case s2Encoding:
		b, err := s2.Decode(nil, data[1:])
		if err != nil {
			return fmt.Errorf("matroska: compressed encoding: %w", err)
		}
		return c.Codec.Unmarshal(b, v)
	}
	return fmt.Errorf("matroska: compressed encoding: unknown form %q", data[0])
}
