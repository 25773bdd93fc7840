package remote

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/matroska-go/matroska/deps"
)

// Envelope is one entry as stored in Redis: a value or a negative
// (not-found) result, with the dependencies it was computed from.
type Envelope struct {
	// NotFound marks a negative entry: the source had no value. Its payload
	// is empty.
	NotFound bool
	// Deps are the entry's dependencies; invalidating any of them removes
	// the entry.
	Deps []deps.Dep
	// Payload is the encoded value (the codec's bytes), opaque to this
	// package. In an envelope returned by a read it shares memory with the
	// reply's string: read it, never modify it.
	Payload []byte
	// Mark is the sequence the entry is known current at: no invalidation
	// of its dependencies, nor of deps.Key(its key), up to Mark predates it.
	// Put stores the start mark it checked (the value's mark.Seq), Set the
	// sequence of its own invalidation. 0 when unknown (an entry written in
	// the first layout). A reader that knows every invalidation between Mark
	// and the sequence it read at can tell, without the index, that the
	// entry is current (see [Store.ReadUnchecked]).
	Mark uint64
	// Expires is when the entry expires in Redis, by the clock of the node
	// that wrote it: [Store.Put] and [Store.Set] set it from their TTL
	// argument, just before the write. Zero when unknown (an entry written
	// in an older layout). It lets a reader know the entry's remaining time
	// to live without asking Redis (see [Store.ReadUnchecked]).
	Expires time.Time
	// Fresh is when the entry stops being fresh, by the clock of the node
	// that wrote it: past it, a reader treats the entry as expired (a value
	// kept until Expires only as a fallback for a load that fails, see
	// tiered's StaleIfError). Zero: fresh until Expires (and in an older
	// layout, unknown). Put and Set store it as given.
	Fresh time.Time
	// Due is when the entry is due for a refresh (tiered's RefreshAfter),
	// by the clock of the node that wrote it; zero: never. Put and Set
	// store it as given.
	Due time.Time
	// Codec names the codec that encoded Payload (tiered's Codec; at most
	// 16 bytes, no NUL), so that a node using another codec can tell instead
	// of decoding garbage. "" when unknown (an older layout, or a codec
	// without a name). Put and Set store it as given.
	Codec string
	// Epoch is the epoch (see [State]) of the history the entry was written
	// in: [Store.Put] stores its mark's epoch, [Store.Set] the epoch of its
	// own invalidation. A read serves an entry only in its own epoch: when
	// Redis has lost history (a restart from an older snapshot, a failover
	// to a replica that lagged), a new epoch begins and every entry written
	// before it reads as a miss (G11). "" when unknown (an older layout):
	// such an entry is never served. At most 255 bytes.
	Epoch string
	// TTL is the entry's remaining time to live as a read found it (0 when
	// unknown). It is not part of the stored bytes: AppendEnvelope ignores
	// it, DecodeEnvelope leaves it 0, and Put and Set take the TTL as an
	// argument.
	TTL time.Duration
}

// The envelope layout: 'E', version 5, flags, the big-endian uint64 Mark,
// then three big-endian int64 times in Unix milliseconds (0: none): Expires,
// Fresh and Due, the Codec in 16 bytes (padded with NULs), one byte m and
// the m bytes of the Epoch, a big-endian
// uint32 length n of the deps block, the deps block (canonical dependency
// strings joined by '\n'), then the payload. Older layouts are still read:
// version 4 has no Fresh and Due (a 24-byte header and the epoch's bytes);
// version 3 no Epoch either (23 bytes; never served), version 2 no Expires
// either (15 bytes), version 1 no Mark either (7 bytes: 'E', 1, flags, n).
// The Mark and Expires sit at the same fixed offsets in versions 2 to 5, so
// that a script can write the Mark (set.lua).
const (
	envMagic      = 'E'
	envVersion    = 5
	envV5Fixed    = 56 // the header of version 5 without the epoch's bytes
	envCodecAt    = 35 // where version 5's codec name begins
	maxCodecLen   = 16
	envV4Fixed    = 24 // the header of version 4 without the epoch's bytes
	envV3Header   = 23
	envV2Header   = 15
	envV1Header   = 7
	flagNotFound  = 1 << 0
	knownEnvFlags = flagNotFound
)

// maxEpochLen is the longest epoch an envelope holds (its length is one
// byte).
const maxEpochLen = 255

var newline = []byte{'\n'}

// AppendEnvelope appends the stored form of e to dst and returns the
// extended slice. The payload of a NotFound envelope is not written. Every
// dependency must be non-zero ([Store.Put] and [Store.Set] check it): a zero
// dependency makes bytes that DecodeEnvelope rejects.
func AppendEnvelope(dst []byte, e Envelope) []byte {
	n := 0
	for i, d := range e.Deps {
		if i > 0 {
			n++
		}
		n += len(d.String())
	}
	flags := byte(0)
	payload := e.Payload
	if e.NotFound {
		flags |= flagNotFound
		payload = nil
	}
	dst = append(dst, envMagic, envVersion, flags)
	dst = binary.BigEndian.AppendUint64(dst, e.Mark)
	dst = binary.BigEndian.AppendUint64(dst, uint64(unixMilli(e.Expires)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(unixMilli(e.Fresh)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(unixMilli(e.Due)))
	var codec [maxCodecLen]byte
	if validCodec(e.Codec) { // Put and Set refuse another; never write a wrong one
		copy(codec[:], e.Codec)
	}
	dst = append(dst, codec[:]...)
	epoch := e.Epoch
	if len(epoch) > maxEpochLen {
		epoch = "" // Put and Set refuse such an epoch; never write a wrong one
	}
	dst = append(dst, byte(len(epoch)))
	dst = append(dst, epoch...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	for i, d := range e.Deps {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, d.String()...)
	}
	return append(dst, payload...)
}

// validCodec reports whether name fits an envelope: at most 16 bytes, no
// NUL.
func validCodec(name string) bool {
	return len(name) <= maxCodecLen && strings.IndexByte(name, 0) < 0
}

// unixMilli is t in the envelope's form: Unix milliseconds, at least 1; 0
// for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 1)
}

// envTime reads the time at b[at:at+8] (Unix milliseconds; 0: none).
func envTime(b []byte, at int) (time.Time, error) {
	switch ms := int64(binary.BigEndian.Uint64(b[at : at+8])); {
	case ms < 0:
		return time.Time{}, fmt.Errorf("%w: time %d at byte %d", ErrCorrupt, ms, at)
	case ms > 0:
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, nil
}

// DecodeEnvelope decodes the stored form of an envelope. Every dependency is
// checked with [deps.Parse]. The returned Payload aliases b. Any malformed
// input (wrong magic or version, unknown flags, a length past the end, an
// invalid dependency, a payload in a negative entry) is an error wrapping
// [ErrCorrupt]; DecodeEnvelope never panics.
func DecodeEnvelope(b []byte) (Envelope, error) {
	return decodeEnvelope(b, false)
}

// decodeEnvelope is DecodeEnvelope; with shared, the Epoch aliases b as the
// Payload does (a read's reply, which nothing modifies), so that a read
// allocates no copy of it.
func decodeEnvelope(b []byte, shared bool) (Envelope, error) {
	if len(b) < envV1Header {
		return Envelope{}, fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(b))
	}
	if b[0] != envMagic {
		return Envelope{}, fmt.Errorf("%w: bad magic byte 0x%02x", ErrCorrupt, b[0])
	}
	var e Envelope
	var hdr int
	switch b[1] {
	case envVersion:
		hdr = envV5Fixed
		if len(b) >= envV5Fixed {
			hdr += int(b[envV5Fixed-5])
		}
	case 4:
		hdr = envV4Fixed
		if len(b) >= envV4Fixed {
			hdr += int(b[19])
		}
	case 3:
		hdr = envV3Header
	case 2:
		hdr = envV2Header
	case 1:
		hdr = envV1Header
	default:
		return Envelope{}, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[1])
	}
	if len(b) < hdr {
		return Envelope{}, fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(b))
	}
	if hdr > envV1Header {
		e.Mark = binary.BigEndian.Uint64(b[3:11])
	}
	var err error
	if b[1] >= 3 {
		if e.Expires, err = envTime(b, 11); err != nil {
			return Envelope{}, err
		}
	}
	epochAt := 0 // where the epoch's bytes begin
	switch b[1] {
	case 4:
		epochAt = envV4Fixed - 4
	case envVersion:
		epochAt = envV5Fixed - 4
		if e.Fresh, err = envTime(b, 19); err != nil {
			return Envelope{}, err
		}
		if e.Due, err = envTime(b, 27); err != nil {
			return Envelope{}, err
		}
		codec := b[envCodecAt : envCodecAt+maxCodecLen]
		if n := bytes.IndexByte(codec, 0); n >= 0 {
			if bytes.IndexFunc(codec[n:], func(r rune) bool { return r != 0 }) >= 0 {
				return Envelope{}, fmt.Errorf("%w: codec name %q padded with other bytes than NUL", ErrCorrupt, codec)
			}
			codec = codec[:n]
		}
		if len(codec) > 0 {
			if shared {
				e.Codec = unsafe.String(&codec[0], len(codec))
			} else {
				e.Codec = string(codec)
			}
		}
	}
	if epochAt > 0 && hdr > epochAt+4 {
		if shared {
			e.Epoch = unsafe.String(&b[epochAt], hdr-4-epochAt)
		} else {
			e.Epoch = string(b[epochAt : hdr-4])
		}
	}
	flags := b[2]
	if flags&^knownEnvFlags != 0 {
		return Envelope{}, fmt.Errorf("%w: unknown flags 0x%02x", ErrCorrupt, flags)
	}
	e.NotFound = flags&flagNotFound != 0
	n := uint64(binary.BigEndian.Uint32(b[hdr-4 : hdr]))
	if n > uint64(len(b)-hdr) {
		return Envelope{}, fmt.Errorf("%w: deps block of %d bytes past the end", ErrCorrupt, n)
	}
	block := b[hdr : hdr+int(n)]
	if len(block) > 0 {
		e.Deps = make([]deps.Dep, 0, bytes.Count(block, newline)+1)
		for {
			line, rest, more := bytes.Cut(block, newline)
			d, err := deps.Parse(string(line))
			if err != nil {
				return Envelope{}, fmt.Errorf("%w: dependency %d: %w", ErrCorrupt, len(e.Deps), err)
			}
			e.Deps = append(e.Deps, d)
			if !more {
				break
			}
			block = rest
		}
	}
	if payload := b[hdr+int(n):]; len(payload) > 0 {
		if e.NotFound {
			return Envelope{}, fmt.Errorf("%w: negative entry with a %d-byte payload", ErrCorrupt, len(payload))
		}
		e.Payload = payload
	}
	return e, nil
}
