package tiered

import (
	"encoding/json"
	"fmt"
	"reflect"

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
// most 8 bytes, no NUL (New refuses another with ErrConfig).
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
