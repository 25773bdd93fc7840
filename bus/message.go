package bus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/matroska-go/matroska/deps"
)

// ErrMalformed is wrapped by the errors of [Decode] and [Message.Validate].
var ErrMalformed = errors.New("bus: malformed message")

// header starts every message of wire version 1.
const header = "M1\n"

// inLog stands for the dependencies of a message that carries them in the
// log ([Message.InLog]). It is no canonical dependency string (it has none
// of their prefixes), so a decoder of version 1 that predates it drops the
// message as malformed, and recovers it from the log as it would a lost
// one.
const inLog = "@log"

// hold stands for the dependencies of a hold ([Message.Hold]).
const hold = "@hold"

// Message is one invalidation: in epoch Epoch, the invalidation numbered Seq,
// made by node Origin, of the dependencies Deps.
//
// On the wire (the payload PUBLISHed on the channel) it is
//
//	"M1\n" + epoch + "\n" + seq (decimal) + "\n" + origin + "\n" + dep1 + "\n" + dep2 ...
//
// with canonical dependency strings ([deps.Dep.String]), at least one
// dependency, a seq of at least 1 without leading zeros, and an epoch and an
// origin that are non-empty and contain no '\n'. An invalidation whose
// message would be too large for the channel (package remote publishes
// those over 32 KiB so) is published with "@log" in place of the
// dependencies, as a Message with InLog set and no Deps:
//
//	"M1\n" + epoch + "\n" + seq + "\n" + origin + "\n@log"
//
// A hold ([Message.Hold]) has seq 0 and "@hold" in place of the
// dependencies:
//
//	"M1\n" + epoch + "\n0\n" + origin + "\n@hold"
//
// Either form may be signed (see [Key]).
type Message struct {
	Epoch  string
	Seq    uint64
	Origin string
	Deps   []deps.Dep
	// InLog reports that the dependencies are not in the message but in
	// the invalidation log, under Seq: the bus reads them from
	// [Source.Log] and hands the Handler the logged message, never one
	// with InLog set.
	InLog bool
	// Hold reports an invalidation that Redis refused (a read-only
	// replica, failing persistence, too few replicas): it is in no
	// sequence, names no dependency, and tells every node of Epoch that
	// entries which should be gone may still be in Redis. The bus hands it
	// to [Handler.Hold].
	Hold bool
}

// AppendEncode appends the wire form of m to dst and returns the extended
// buffer. It does not check m: the encoding of a message that fails
// [Message.Validate] is one that [Decode] rejects.
func (m Message) AppendEncode(dst []byte) []byte {
	dst = append(dst, header...)
	dst = append(dst, m.Epoch...)
	dst = append(dst, '\n')
	dst = strconv.AppendUint(dst, m.Seq, 10)
	dst = append(dst, '\n')
	dst = append(dst, m.Origin...)
	if m.Hold {
		dst = append(append(dst, '\n'), hold...)
	}
	if m.InLog {
		// Followed by any Deps, so that the encoding of a message that has
		// both, which is invalid, does not decode.
		dst = append(append(dst, '\n'), inLog...)
	}
	for _, d := range m.Deps {
		dst = append(dst, '\n')
		dst = append(dst, d.String()...)
	}
	return dst
}

// Validate reports whether m can be encoded and decoded back: an error
// wrapping [ErrMalformed] says what is wrong.
func (m Message) Validate() error {
	if err := checkToken("epoch", m.Epoch); err != nil {
		return err
	}
	if m.Hold {
		if m.Seq != 0 || m.InLog || len(m.Deps) != 0 {
			return fmt.Errorf("%w: a hold with a seq or dependencies", ErrMalformed)
		}
		return checkToken("origin", m.Origin)
	}
	if m.Seq == 0 {
		return fmt.Errorf("%w: seq 0", ErrMalformed)
	}
	if err := checkToken("origin", m.Origin); err != nil {
		return err
	}
	if m.InLog {
		if len(m.Deps) != 0 {
			return fmt.Errorf("%w: dependencies in a message that has them in the log", ErrMalformed)
		}
		return nil
	}
	if len(m.Deps) == 0 {
		return fmt.Errorf("%w: no dependency", ErrMalformed)
	}
	for _, d := range m.Deps {
		if d.IsZero() {
			return fmt.Errorf("%w: zero dependency", ErrMalformed)
		}
	}
	return nil
}

func checkToken(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrMalformed, what)
	}
	if strings.IndexByte(s, '\n') >= 0 {
		return fmt.Errorf("%w: newline in %s", ErrMalformed, what)
	}
	return nil
}

// Decode parses the wire form of a message. It accepts exactly the bytes
// [Message.AppendEncode] produces for a valid message, so decoding and
// encoding again gives the same bytes; anything else is an error wrapping
// [ErrMalformed]. It never panics.
func Decode(b []byte) (Message, error) {
	return decode(string(b))
}

// decode is Decode on a string (go-redis hands payloads over as strings).
// The strings of the result share s's memory.
func decode(s string) (Message, error) {
	rest, ok := strings.CutPrefix(s, header)
	if !ok {
		return Message{}, fmt.Errorf("%w: not a version 1 message", ErrMalformed)
	}
	var m Message
	var seq, line string
	if m.Epoch, rest, ok = strings.Cut(rest, "\n"); !ok || m.Epoch == "" {
		return Message{}, fmt.Errorf("%w: bad epoch", ErrMalformed)
	}
	if seq, rest, ok = strings.Cut(rest, "\n"); !ok {
		return Message{}, fmt.Errorf("%w: truncated after seq", ErrMalformed)
	}
	if seq == "0" {
		if m.Origin, rest, ok = strings.Cut(rest, "\n"); !ok || m.Origin == "" || rest != hold {
			return Message{}, fmt.Errorf("%w: seq 0 in a message that is not a hold", ErrMalformed)
		}
		m.Hold = true
		return m, nil
	}
	if m.Seq, ok = parseSeq(seq); !ok {
		return Message{}, fmt.Errorf("%w: bad seq %q", ErrMalformed, seq)
	}
	if m.Origin, rest, ok = strings.Cut(rest, "\n"); !ok || m.Origin == "" {
		return Message{}, fmt.Errorf("%w: bad origin or no dependency", ErrMalformed)
	}
	if rest == inLog {
		m.InLog = true
		return m, nil
	}
	m.Deps = make([]deps.Dep, 0, strings.Count(rest, "\n")+1)
	for more := true; more; {
		line, rest, more = strings.Cut(rest, "\n")
		d, err := deps.Parse(line)
		if err != nil {
			return Message{}, fmt.Errorf("%w: dependency %d: %w", ErrMalformed, len(m.Deps)+1, err)
		}
		m.Deps = append(m.Deps, d)
	}
	return m, nil
}

// parseSeq parses a canonical decimal sequence number: digits only, no
// leading zero, at least 1, no overflow.
func parseSeq(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
