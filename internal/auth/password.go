package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	// Memory is in KiB.
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams suit the 2-core server Steward runs on: 64 MiB and two
// passes take about a tenth of a second there, one login at a time, and
// two lanes use both cores. RFC 9106's second recommended setting is
// 64 MiB with three passes and four lanes; with two cores, four lanes
// add no work an attacker must repeat, so the second pass buys the
// margin instead. OWASP's floor (19 MiB, two passes) is well below.
// Memory is what makes guessing on GPUs costly; the Service hashes at
// most maxConcurrentHashes passwords at once, so a burst of logins
// cannot take more than 128 MiB.
var DefaultParams = Params{Memory: 64 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}

// Bounds a stored hash's parameters must lie within before Verify spends
// time and memory on them (a damaged or planted row must not make a
// login allocate gigabytes).
const (
	maxMemory  = 1024 * 1024 // 1 GiB in KiB
	maxTime    = 16
	maxThreads = 16
)

var b64 = base64.RawStdEncoding

// HashPassword hashes pw with a new random salt and returns the PHC
// string $argon2id$v=19$m=MEMORY,t=TIME,p=THREADS$SALT$HASH (unpadded
// standard base64).
func HashPassword(pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash is a stored hash that is not an argon2id PHC string.
var errBadHash = errors.New("stored password hash is not an argon2id PHC string")

// decodeHash parses a PHC string into its parameters, salt and key.
func decodeHash(phc string) (Params, []byte, []byte, error) {
	var p Params
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(f[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version %q", errBadHash, f[2])
	}
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", errBadHash, f[3])
	}
	if p.Memory < 8 || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads {
		return p, nil, nil, fmt.Errorf("%w: parameters %q out of bounds", errBadHash, f[3])
	}
	salt, err := b64.DecodeString(f[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", errBadHash)
	}
	key, err := b64.DecodeString(f[5])
	if err != nil || len(key) < 16 {
		return p, nil, nil, fmt.Errorf("%w: hash", errBadHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// VerifyPassword says whether pw matches the PHC string phc, with the
// parameters phc names (so hashes made with older parameters still
// verify). The comparison takes constant time. A phc that is not an
// argon2id string is an error.
func VerifyPassword(phc, pw string) (bool, error) {
	p, salt, key, err := decodeHash(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}
