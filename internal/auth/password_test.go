package auth

import (
	"strings"
	"testing"
)

// fastParams keep tests quick; the default parameters are tested once.
var fastParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashRoundTrip(t *testing.T) {
	h, err := HashPassword("Correct-Horse-7", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the default parameters", h)
	}
	if ok, err := VerifyPassword(h, "Correct-Horse-7"); err != nil || !ok {
		t.Fatalf("right password: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(h, "Correct-Horse-8"); err != nil || ok {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
	h2, _ := HashPassword("Correct-Horse-7", DefaultParams)
	if h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestHashWithOtherParamsVerifies(t *testing.T) {
	h, err := HashPassword("pw", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=64,t=1,p=1$") {
		t.Fatalf("hash %q does not name its parameters", h)
	}
	if ok, err := VerifyPassword(h, "pw"); err != nil || !ok {
		t.Fatalf("hash with other parameters: %v, %v", ok, err)
	}
}

func TestVerifyRefusesBadHashes(t *testing.T) {
	good, _ := HashPassword("pw", fastParams)
	f := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":          "",
		"bcrypt":         "$2a$10$abcdefghijklmnopqrstuv",
		"argon2i":        strings.Replace(good, "argon2id", "argon2i", 1),
		"other version":  strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":    strings.Replace(good, "m=64,", "m=99999999,", 1),
		"no salt":        strings.Join([]string{"", f[1], f[2], f[3], "", f[5]}, "$"),
		"truncated hash": strings.Join([]string{"", f[1], f[2], f[3], f[4], "AAAA"}, "$"),
	} {
		if ok, err := VerifyPassword(h, "pw"); err == nil || ok {
			t.Errorf("%s: VerifyPassword(%q) = %v, %v; want an error", name, h, ok, err)
		}
	}
}
