package deps

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is returned by [Parse] for a string that is not the canonical
// form of any dependency.
var ErrInvalid = errors.New("deps: invalid dependency string")

// Kind tells what a dependency names.
type Kind uint8

// The kinds of dependency. The zero Kind is [KindInvalid], the kind of the
// zero [Dep].
const (
	KindInvalid   Kind = iota
	KindId             // one object: "id:{type}:{id}"
	KindTag            // a free-form tag: "tag:{name}"
	KindKey            // a cached entry, for nesting: "key:{key}"
	KindCondition      // a list filter: "cond:{type}:{k1}={v1}&{k2}={v2}"
	KindAll            // every list of a type: "all:{type}"
)

var prefixes = [...]string{
	KindId:        "id:",
	KindTag:       "tag:",
	KindKey:       "key:",
	KindCondition: "cond:",
	KindAll:       "all:",
}

// String returns the name of the kind.
func (k Kind) String() string {
	switch k {
	case KindId:
		return "id"
	case KindTag:
		return "tag"
	case KindKey:
		return "key"
	case KindCondition:
		return "cond"
	case KindAll:
		return "all"
	}
	return "invalid"
}

// Dep is one dependency. It is comparable and can be a map key; its zero
// value is invalid ([Dep.IsZero]) and is rejected wherever a dependency is
// taken. A constructor given an empty type or name returns the zero Dep:
// Id("", 1), Tag(""), Key(""), All("") and Condition("", p) name nothing,
// and are almost always an uninitialised field.
type Dep struct {
	s string
}

// String returns the canonical form.
func (d Dep) String() string { return d.s }

// IsZero reports whether d is the zero (invalid) dependency.
func (d Dep) IsZero() bool { return d.s == "" }

// Kind returns the kind of d.
func (d Dep) Kind() Kind {
	for k := KindId; k <= KindAll; k++ {
		if strings.HasPrefix(d.s, prefixes[k]) {
			return k
		}
	}
	return KindInvalid
}

// KeyName returns the entry key named by a [KindKey] dependency, and false for
// any other kind.
func (d Dep) KeyName() (string, bool) {
	rest, ok := strings.CutPrefix(d.s, prefixes[KindKey])
	if !ok {
		return "", false
	}
	key, err := unescape(rest)
	if err != nil {
		return "", false
	}
	return key, true
}

// Id is the dependency on one object of a type, such as Id("article", 7).
// The id is canonicalised with [FormatValue]. An empty typ gives the zero
// Dep.
func Id(typ string, id any) Dep {
	if typ == "" {
		return Dep{}
	}
	return Dep{prefixes[KindId] + escape(typ) + ":" + segment(id)}
}

// Tag is a free-form dependency, such as Tag("homepage"). An empty name
// gives the zero Dep.
func Tag(name string) Dep {
	if name == "" {
		return Dep{}
	}
	return Dep{prefixes[KindTag] + escape(name)}
}

// Key is the dependency on a cached entry. An entry that consumed another
// entry (a nested GetOrLoad) depends on the inner entry's Key, and
// invalidating Key(k) removes k and every entry that contains it. An empty
// key gives the zero Dep.
func Key(key string) Dep {
	if key == "" {
		return Dep{}
	}
	return Dep{prefixes[KindKey] + escape(key)}
}

// All is the type-wide dependency of lists of typ: every list cached with a
// condition of typ also depends on All(typ), and invalidating All(typ) drops
// them all. It is the fallback when a change cannot be matched precisely.
// An empty typ gives the zero Dep.
func All(typ string) Dep {
	if typ == "" {
		return Dep{}
	}
	return Dep{prefixes[KindAll] + escape(typ)}
}

// Condition is the dependency of a list of typ filtered by params (field name
// to value, every value canonicalised by [FormatValue]). The order of params
// does not matter: names are sorted. An empty typ gives the zero Dep.
func Condition(typ string, params map[string]any) Dep {
	if typ == "" {
		return Dep{}
	}
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(prefixes[KindCondition])
	b.WriteString(escape(typ))
	b.WriteByte(':')
	for i, name := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(escape(name))
		b.WriteByte('=')
		b.WriteString(segment(params[name]))
	}
	return Dep{b.String()}
}

// Parse returns the dependency whose canonical form is s. Any other string,
// including a non-canonical spelling of a valid dependency and the form a
// dependency with an empty type or name would have ("tag:"), is
// [ErrInvalid].
func Parse(s string) (Dep, error) {
	d := Dep{s}
	var err error
	switch d.Kind() {
	case KindTag, KindKey, KindAll:
		_, rest, _ := strings.Cut(s, ":")
		if err = checkEscaped(rest); rest == "" {
			err = ErrInvalid
		}
	case KindId:
		_, rest, _ := strings.Cut(s, ":")
		typ, id, ok := strings.Cut(rest, ":")
		if !ok || typ == "" {
			err = ErrInvalid
		} else if err = checkEscaped(typ); err == nil {
			err = checkValue(id)
		}
	case KindCondition:
		err = checkCondition(s[len(prefixes[KindCondition]):])
	default:
		err = ErrInvalid
	}
	if err != nil {
		return Dep{}, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	return d, nil
}

func checkCondition(rest string) error {
	typ, params, ok := strings.Cut(rest, ":")
	if !ok || typ == "" {
		return ErrInvalid
	}
	if err := checkEscaped(typ); err != nil {
		return err
	}
	if params == "" {
		return nil
	}
	prev := ""
	for i, pair := range strings.Split(params, "&") {
		name, value, ok := strings.Cut(pair, "=")
		if !ok {
			return ErrInvalid
		}
		if err := checkEscaped(name); err != nil {
			return err
		}
		if err := checkValue(value); err != nil {
			return err
		}
		// Names are sorted and distinct in the canonical form; compare the
		// unescaped names, which is the order Condition sorts by.
		raw, _ := unescape(name)
		if i > 0 && raw <= prev {
			return ErrInvalid
		}
		prev = raw
	}
	return nil
}
