package tiered

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Codec turns values into bytes for Redis and back. It must be safe for
// concurrent use. Values in L1 are kept decoded, so a Codec runs only on a
// fill from Redis, and on a put or a Set, which encode the value and decode
// it again: L1 holds what the other nodes read from Redis (see decoded).
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
