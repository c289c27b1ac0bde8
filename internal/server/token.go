package server

import (
	"crypto/sha256"
	"crypto/subtle"
)

// Token checks a presented bearer token against the API token. It keeps
// only the token's SHA-256, and compares hashes in constant time, so that
// neither the token's bytes nor the time a comparison takes say how much
// of a guess was right.
type Token struct {
	sum [sha256.Size]byte
}

// NewToken returns a checker of token (which the caller may wipe after).
// An empty token matches nothing.
func NewToken(token []byte) *Token {
	if len(token) == 0 {
		return &Token{} // the zero sum: no presented token hashes to it
	}
	return &Token{sum: sha256.Sum256(token)}
}

// Check reports whether presented is the token.
func (t *Token) Check(presented string) bool {
	if t == nil || t.sum == [sha256.Size]byte{} || presented == "" {
		return false
	}
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(got[:], t.sum[:]) == 1
}
