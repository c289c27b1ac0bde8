package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"steward/internal/clock"
)

// session is one console session. One without an operator is a login
// form's: it only carries the form's CSRF token.
type session struct {
	op      Operator
	csrf    string
	created time.Time
	seen    time.Time
}

// sessionStore keeps sessions in memory (one daemon), keyed by the
// SHA-256 of their id: the ids themselves live only in the browsers.
type sessionStore struct {
	mu        sync.Mutex
	m         map[[sha256.Size]byte]*session
	clock     clock.Clock
	idle, abs time.Duration
}

// maxSessions bounds the store: login forms make sessions before anyone
// has logged in.
const maxSessions = 10000

func newSessionStore(c clock.Clock, idle, abs time.Duration) *sessionStore {
	return &sessionStore{m: map[[sha256.Size]byte]*session{}, clock: c, idle: idle, abs: abs}
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for op (the zero Operator: a login form's) and
// returns its id.
func (s *sessionStore) create(op Operator) (string, *session) {
	id := randomToken()
	now := s.clock.Now()
	sess := &session{op: op, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		s.pruneLocked(now)
	}
	if len(s.m) >= maxSessions {
		for k, v := range s.m { // still full: drop a login form's session
			if v.op.Name == "" {
				delete(s.m, k)
				break
			}
		}
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// get returns id's session and marks it used now. expired says that the
// session existed but timed out (it is removed).
func (s *sessionStore) get(id string) (sess *session, expired bool) {
	if id == "" {
		return nil, false
	}
	k := sha256.Sum256([]byte(id))
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess = s.m[k]
	if sess == nil {
		return nil, false
	}
	if s.timedOut(sess, now) {
		delete(s.m, k)
		return nil, true
	}
	sess.seen = now
	return sess, false
}

func (s *sessionStore) timedOut(sess *session, now time.Time) bool {
	return now.Sub(sess.seen) >= s.idle || now.Sub(sess.created) >= s.abs
}

func (s *sessionStore) pruneLocked(now time.Time) {
	for k, v := range s.m {
		if s.timedOut(v, now) {
			delete(s.m, k)
		}
	}
}

// delete ends id's session.
func (s *sessionStore) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// checkCSRF compares a form's token with the session's in constant time.
func (sess *session) checkCSRF(presented string) bool {
	return presented != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(sess.csrf)) == 1
}
