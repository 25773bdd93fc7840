package deps

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

const hexDigits = "0123456789ABCDEF"

// mustEscape reports whether byte c is escaped: the separators of the
// canonical form, the escape character itself, Redis Cluster hash-tag braces,
// the nil marker, and control characters (so a dependency never contains a
// newline, which the wire formats use between dependencies).
func mustEscape(c byte) bool {
	switch c {
	case '%', ':', '&', '=', '{', '}', '~':
		return true
	}
	return c < 0x20 || c == 0x7f
}

func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if mustEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if mustEscape(c) {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkValue is checkEscaped for an id or condition value, which may also be
// the nil marker.
func checkValue(s string) error {
	if s == nilMarker {
		return nil
	}
	return checkEscaped(s)
}

// checkEscaped verifies that s is a canonical escaped segment: no unescaped
// byte that must be escaped, and every
// escape well formed, in upper-case hex, and of a byte that must be escaped.
func checkEscaped(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if mustEscape(c) {
				return ErrInvalid
			}
			continue
		}
		if i+2 >= len(s) {
			return ErrInvalid
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 || !mustEscape(hi<<4|lo) {
			return ErrInvalid
		}
		i += 2
	}
	return nil
}

func unescape(s string) (string, error) {
	if err := checkEscaped(s); err != nil {
		return "", err
	}
	if !strings.Contains(s, "%") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			hi, _ := unhex(s[i+1])
			lo, _ := unhex(s[i+2])
			b = append(b, hi<<4|lo)
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b), nil
}

// nilMarker is how nil is written in a dependency: "~" is always escaped in
// text, so no value with text can produce it.
const nilMarker = "~"

// segment returns the escaped canonical form of an id or condition value.
func segment(v any) string {
	if isNil(v) {
		return nilMarker
	}
	return escape(FormatValue(v))
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil() && rv.Type() != reflect.TypeOf([]byte(nil))
	}
	return false
}

// FormatValue returns the canonical text of an id or a condition value:
//   - integers of every width, signed or not: decimal ("7");
//   - floats: an integral value as that integer ("2" for 2.0), others in the
//     shortest form that reads back exactly ("0.5");
//   - bool: "true" or "false";
//   - string and []byte: the text itself;
//   - nil (and a nil pointer): "" here; in a dependency it is written "~",
//     which no value with text produces, since "~" in text is escaped;
//   - a non-nil pointer: the value it points to;
//   - a fmt.Stringer: its String();
//   - anything else: fmt.Sprint.
//
// So 1, int64(1), uint8(1), 1.0 and "1" are the same value, and true and
// "true" are the same value.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.FormatInt(int64(x), 10)
	case int8:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint:
		return strconv.FormatUint(uint64(x), 10)
	case uint8:
		return strconv.FormatUint(uint64(x), 10)
	case uint16:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float32:
		return formatFloat(float64(x), 32)
	case float64:
		return formatFloat(x, 64)
	case fmt.Stringer:
		return x.String()
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return ""
		}
		return FormatValue(rv.Elem().Interface())
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64, bits int) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}
