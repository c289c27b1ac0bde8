package objstore

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/testenv"
)

// keyAt is a probe Target for a key pair on s's S3 endpoint, in its region.
func keyAt(s *testenv.S3Server, access, secret string) Target {
	return Target{Host: s.Endpoint, Region: s.Region, AccessKey: keys.Secret(access), SecretKey: keys.Secret(secret)}
}

func rootAdmin(t *testing.T, s *testenv.S3Server) KeyAdmin {
	t.Helper()
	a, err := NewKeyAdmin(AdminTarget{Provider: "versitygw", URL: s.AdminURL, Region: s.Region, AccessKey: keys.Secret(s.AccessKey), SecretKey: keys.Secret(s.SecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRevokeAccessKey: a user made through the admin API works, is
// deleted, and its key is then refused as unknown; deleting it again is
// success with "already absent".
func TestRevokeAccessKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	admin := rootAdmin(t, s)
	const user = "STEWARDWRITER1"
	secret := rand.Text()

	if err := admin.CreateUser(ctx, user, keys.Secret(secret), testenv.RoleUserPlus); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateUser(ctx, user, keys.Secret("other-"+secret), testenv.RoleUser); !errors.Is(err, ErrUserExists) {
		t.Fatalf("create the same user again: %v", err)
	}
	users, err := admin.ListUsers(ctx)
	if err != nil || len(users) != 1 || users[0] != (User{AccessKey: user, Role: testenv.RoleUserPlus}) {
		t.Fatalf("list: %+v, %v", users, err)
	}
	// The live key works: it makes a bucket, and it is not refused.
	if err := s.ClientAs(t, user, secret).MakeBucket(ctx, "writer-bucket", minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("the new user makes a bucket: %v", err)
	}
	if refused, answer, err := KeyRefused(ctx, keyAt(s, user, secret)); err != nil || refused {
		t.Fatalf("live key: refused %v (%s), %v", refused, answer, err)
	}
	// The live key with a wrong secret: the key exists, so not refused.
	if refused, answer, err := KeyRefused(ctx, keyAt(s, user, "wrong-"+secret)); err != nil || refused || answer != "SignatureDoesNotMatch" {
		t.Fatalf("live key, wrong secret: refused %v (%s), %v", refused, answer, err)
	}

	existed, err := admin.DeleteUser(ctx, user)
	if err != nil || !existed {
		t.Fatalf("delete: existed %v, %v", existed, err)
	}
	if users, err := admin.ListUsers(ctx); err != nil || len(users) != 0 {
		t.Fatalf("list after delete: %+v, %v", users, err)
	}
	refused, answer, err := KeyRefused(ctx, keyAt(s, user, secret))
	if err != nil || !refused || answer != "InvalidAccessKeyId" {
		t.Fatalf("revoked key: refused %v (%s), %v", refused, answer, err)
	}
	// The bucket it made stays, and is the root's to erase.
	if ok, err := s.Client(t).BucketExists(ctx, "writer-bucket"); err != nil || !ok {
		t.Fatalf("bucket of the revoked user: %v, %v", ok, err)
	}
	// Idempotent: a second revocation finds it absent, and says so.
	if existed, err := admin.DeleteUser(ctx, user); err != nil || existed {
		t.Fatalf("delete again: existed %v, %v", existed, err)
	}
	// The revocation survives a restart (it is stored, not cached).
	s.Restart()
	if refused, _, err := KeyRefused(ctx, keyAt(s, user, secret)); err != nil || !refused {
		t.Fatalf("revoked key after a restart: refused %v, %v", refused, err)
	}
	// The root key is never reported as refused.
	if refused, answer, err := KeyRefused(ctx, keyAt(s, s.AccessKey, s.SecretKey)); err != nil || refused {
		t.Fatalf("root key: refused %v (%s), %v", refused, answer, err)
	}
}

// TestKeyRefusedNeedsAnAnswer: no answer, or an answer that does not say
// whether the key exists, is an error and never "refused".
func TestKeyRefusedNeedsAnAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	secret := rand.Text()

	// Signed for another region: versitygw refuses the signature before it
	// looks at the key.
	other := keyAt(s, "NOSUCHKEY", secret)
	other.Region = "ap-northeast-3"
	refused, answer, err := KeyRefused(ctx, other)
	if err == nil || refused || !strings.Contains(err.Error(), "s3.region") {
		t.Fatalf("wrong region: refused %v (%s), %v", refused, answer, err)
	}
	s.Stop()
	refused, _, err = KeyRefused(ctx, keyAt(s, "NOSUCHKEY", secret))
	if !errors.Is(err, ErrUnreachable) || refused {
		t.Fatalf("server stopped: refused %v, %v", refused, err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the secret: %v", err)
	}
	_, err = rootAdmin(t, s).ListUsers(ctx)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("admin API of a stopped server: %v", err)
	}
}

// TestKeyAdminRefusals: a non-admin credential, a wrong region, the admin
// deleting its own key, an unknown provider.
func TestKeyAdminRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	admin := rootAdmin(t, s)
	secret := rand.Text()
	if err := admin.CreateUser(ctx, "PLAINUSER", keys.Secret(secret), testenv.RoleUserPlus); err != nil {
		t.Fatal(err)
	}
	plain, err := NewKeyAdmin(AdminTarget{Provider: "versitygw", URL: s.AdminURL, Region: s.Region, AccessKey: keys.Secret("PLAINUSER"), SecretKey: keys.Secret(secret)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = plain.DeleteUser(ctx, "ANYONE")
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "role admin") {
		t.Fatalf("a user without role admin: %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error shows the secret: %v", err)
	}

	wrongRegion, err := NewKeyAdmin(AdminTarget{Provider: "versitygw", URL: s.AdminURL, Region: "ap-northeast-3", AccessKey: keys.Secret(s.AccessKey), SecretKey: keys.Secret(s.SecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrongRegion.ListUsers(ctx); !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "admin.region") {
		t.Fatalf("admin signing for another region: %v", err)
	}

	if _, err := admin.DeleteUser(ctx, s.AccessKey); !errors.Is(err, ErrOwnKey) {
		t.Fatalf("the admin deleting its own key: %v", err)
	}
	if refused, _, err := KeyRefused(ctx, keyAt(s, s.AccessKey, s.SecretKey)); err != nil || refused {
		t.Fatalf("root key after the refused deletion: refused %v, %v", refused, err)
	}

	for _, p := range []string{"minio", ""} {
		if _, err := NewKeyAdmin(AdminTarget{Provider: p, URL: s.AdminURL}); !errors.Is(err, ErrUnknownProvider) || !strings.Contains(err.Error(), "versitygw") {
			t.Fatalf("provider %q: %v", p, err)
		}
	}
}

// Every provider the config accepts has a KeyAdmin.
func TestEveryConfigProviderHasAKeyAdmin(t *testing.T) {
	for _, p := range config.S3AdminProviders {
		if _, err := NewKeyAdmin(AdminTarget{Provider: p, URL: "http://127.0.0.1:1"}); err != nil {
			t.Errorf("provider %q: %v", p, err)
		}
	}
}

func TestAdminTargetFrom(t *testing.T) {
	a := &config.AccountAdmin{Provider: "versitygw", Endpoint: "https://admin.example.jp:7070/", Region: "ap-northeast-1"}
	at, err := AdminTargetFrom(a, keys.Secret("A"), keys.Secret("S"))
	if err != nil || at.URL != "https://admin.example.jp:7070" || at.Region != "ap-northeast-1" || at.Provider != "versitygw" {
		t.Fatalf("%+v, %v", at, err)
	}
	a.Endpoint = "admin.example.jp:7070"
	if _, err := AdminTargetFrom(a, nil, nil); err == nil {
		t.Fatal("an endpoint without a scheme is accepted")
	}
}
