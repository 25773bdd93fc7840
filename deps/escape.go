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
	// Follow non-nil pointers (and interfaces behind them), so that a
	// pointer to a nil pointer is nil too, as FormatValue dereferences them.
	rv := reflect.ValueOf(v)
	for {
		if !rv.IsValid() {
			return true
		}
		switch rv.Kind() {
		case reflect.Pointer, reflect.Interface:
			if rv.IsNil() {
				return true
			}
			rv = rv.Elem()
		case reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return rv.IsNil()
		case reflect.Slice:
			// A nil []byte is the empty text, like the empty string.
			return rv.IsNil() && rv.Type().Elem().Kind() != reflect.Uint8
		default:
			return false
		}
	}
}

// FormatValue returns the canonical text of an id or a condition value:
//   - integers of every width, signed or not: decimal ("7");
//   - floats: an integral value in the range of int64 or uint64 as that
//     integer ("2" for 2.0), others (and ±Inf, NaN) in the shortest 'g' form
//     that reads back exactly at the float's width ("0.5", "1e+20");
//   - bool: "true" or "false";
//   - string and []byte: the text itself;
//   - nil (and a nil pointer): "" here; in a dependency it is written "~",
//     which no value with text produces, since "~" in text is escaped. In a
//     dependency, a nil map, channel, function or non-byte slice,
//     and a pointer to any of these or to a nil pointer, are nil too;
//   - a non-nil pointer: the value it points to;
//   - a fmt.Stringer: its String();
//   - a value of a type defined on one of the above (type UserID int64)
//     without a String method: as the underlying type;
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
		// A nil pointer is nil even if its type has a String method: a
		// value-receiver String (time.Time's, say) would panic on it.
		if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return ""
		}
		return x.String()
	}
	// A type defined on a basic type (type UserID int64) without a String
	// method is formatted as its underlying type, so UserID(1) is 1.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return ""
		}
		return FormatValue(rv.Elem().Interface())
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32:
		return formatFloat(rv.Float(), 32)
	case reflect.Float64:
		return formatFloat(rv.Float(), 64)
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return string(rv.Bytes())
		}
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64, bits int) string {
	if f == math.Trunc(f) {
		// Every integral float in the range of int64 or uint64 prints as the
		// integer of the same value would (2^63 and -2^63 included).
		switch {
		case f >= -(1<<63) && f < 1<<63:
			return strconv.FormatInt(int64(f), 10)
		case f >= 0 && f < 1<<64:
			return strconv.FormatUint(uint64(f), 10)
		}
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// CompositeKey returns the id text of a composite primary key, for
// Id(typ, CompositeKey(part1, part2, ...)), the parts in the order of the
// key's columns. Each part is canonicalised with FormatValue, and "%" and
// "," in it are percent-escaped before the parts are joined with ",", so
// ("a,b", "c") and ("a", "b,c") have different keys. contrib/gorm and
// contrib/pgcdc both name the rows of a composite key with it, so that a
// model read through GORM and a row changed in the database meet.
func CompositeKey(parts ...any) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		s := FormatValue(p)
		for j := 0; j < len(s); j++ {
			switch s[j] {
			case '%':
				b.WriteString("%25")
			case ',':
				b.WriteString("%2C")
			default:
				b.WriteByte(s[j])
			}
		}
	}
	return b.String()
}
