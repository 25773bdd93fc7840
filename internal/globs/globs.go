// Package globs escapes text for the glob patterns of Redis's SCAN MATCH
// and KEYS.
package globs

import "strings"

// Escape returns s with the characters a Redis glob pattern gives a
// meaning to (*, ?, [, ] and \) escaped, so that the pattern matches s
// literally.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
