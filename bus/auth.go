package bus

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrForged is wrapped by the errors of [Verify] for a message that is not
// signed with the shared key: unsigned, signed with another key, or altered.
var ErrForged = errors.New("bus: message not signed with the shared key")

// signedHeader starts a signed message: "M2\n" + the hex HMAC-SHA1 of the
// unsigned message + "\n" + the unsigned message without its "M1\n".
const signedHeader = "M2\n"

// macLen is the length of the hex HMAC-SHA1.
const macLen = 2 * sha1.Size

// Key is the shared key that authenticates bus messages. Anyone who may
// PUBLISH on the channel but does not hold the key cannot make the nodes
// apply a message: a forged message (one that would, for instance, claim the
// next sequence number and so make the nodes skip the genuine invalidation
// as a duplicate) is dropped and counted.
//
// The messages are signed inside Redis by the scripts that publish them
// (package remote), with HMAC-SHA1 computed from Redis's SHA1 (HMAC-SHA1 is
// a sound MAC: HMAC does not depend on SHA1's collision resistance). The
// script receives the key, padded, as an argument: a Redis user that may
// read other clients' commands (MONITOR, the slow log) can learn it, so give
// the users you guard against neither.
type Key struct {
	inner, outer []byte // the key XORed with HMAC's ipad and opad
}

// NewKey returns the Key of secret, which must not be empty. Secrets longer
// than 64 bytes are hashed first, as HMAC does.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) == 0 {
		return nil, errors.New("bus: empty message key")
	}
	if len(secret) > 64 {
		sum := sha1.Sum(secret)
		secret = sum[:]
	}
	k := &Key{inner: make([]byte, 64), outer: make([]byte, 64)}
	copy(k.inner, secret)
	copy(k.outer, secret)
	for i := range 64 {
		k.inner[i] ^= 0x36
		k.outer[i] ^= 0x5c
	}
	return k, nil
}

// Pads returns the key XORed with HMAC's inner and outer pads, the form in
// which the signing scripts receive it: HMAC(m) = SHA1(outer ||
// SHA1(inner || m)).
func (k *Key) Pads() (inner, outer []byte) { return k.inner, k.outer }

// mac returns the hex HMAC-SHA1 of m.
func (k *Key) mac(m string) string {
	h := sha1.New()
	h.Write(k.inner)
	h.Write([]byte(m))
	in := h.Sum(nil)
	h.Reset()
	h.Write(k.outer)
	h.Write(in)
	return hex.EncodeToString(h.Sum(nil))
}

// Sign returns the signed form of the unsigned message b (as
// [Message.AppendEncode] writes it).
func (k *Key) Sign(b []byte) []byte {
	rest, ok := strings.CutPrefix(string(b), header)
	if !ok {
		return nil
	}
	return []byte(signedHeader + k.mac(string(b)) + "\n" + rest)
}

// Verify checks a signed message and returns its unsigned form, or an error
// wrapping ErrForged. With a nil Key a signed message is accepted without a
// check (its signature is removed) and an unsigned one is returned as it is.
func (k *Key) Verify(b []byte) ([]byte, error) {
	s, err := k.verify(string(b))
	return []byte(s), err
}

func (k *Key) verify(s string) (string, error) {
	rest, signed := strings.CutPrefix(s, signedHeader)
	if !signed {
		if k != nil {
			return "", fmt.Errorf("%w: unsigned", ErrForged)
		}
		return s, nil
	}
	if len(rest) < macLen+1 || rest[macLen] != '\n' {
		return "", fmt.Errorf("%w: %w: bad signature line", ErrForged, ErrMalformed)
	}
	got, body := rest[:macLen], header+rest[macLen+1:]
	if k != nil && !hmac.Equal([]byte(got), []byte(k.mac(body))) {
		return "", fmt.Errorf("%w: wrong signature", ErrForged)
	}
	return body, nil
}
