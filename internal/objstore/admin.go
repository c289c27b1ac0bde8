package objstore

// Revoking S3 access keys (req 27): the admin API of an S3 service, behind
// KeyAdmin so that other services (MinIO's admin API, AWS IAM) can be
// added beside versitygw, and KeyRefused, which proves a revoked key no
// longer opens anything.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"steward/internal/config"
	"steward/internal/keys"
)

// Admin API errors. (They live here rather than in errors.go while
// another change edits that file; move them there when both have landed.)
var (
	// ErrUnknownProvider means Steward cannot administer users on that
	// kind of S3 service.
	ErrUnknownProvider = errors.New("S3 admin provider not supported")
	// ErrUserExists means CreateUser found the access key taken.
	ErrUserExists = errors.New("S3 user already exists")
	// ErrOwnKey means a DeleteUser was asked to delete the admin
	// credential's own key.
	ErrOwnKey = errors.New("the admin credential cannot revoke its own key")
)

// AdminTarget is an S3 service's user-administration API and the admin
// credential that calls it.
type AdminTarget struct {
	// Provider is one of config.S3AdminProviders.
	Provider string
	// URL is the admin API, http(s)://host:port.
	URL string
	// Region is the region the service signs for.
	Region    string
	AccessKey keys.Secret
	SecretKey keys.Secret
}

// AdminTargetFrom builds an AdminTarget from an account's admin block and
// its resolved keys.
func AdminTargetFrom(a *config.AccountAdmin, access, secret keys.Secret) (AdminTarget, error) {
	u, err := url.Parse(a.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return AdminTarget{}, fmt.Errorf("admin endpoint %q: write http(s)://host:port", a.Endpoint)
	}
	return AdminTarget{Provider: a.Provider, URL: u.Scheme + "://" + u.Host, Region: a.Region, AccessKey: access, SecretKey: secret}, nil
}

// User is one user of an S3 service: its access key id and role. Its
// secret is never read back.
type User struct {
	AccessKey string
	// Role is the provider's role name (versitygw: user, userplus, admin).
	Role string
}

// KeyAdmin administers the users (access keys) of one S3 service.
//
// Every method makes its own requests with the admin credential; none
// retries. A refused admin credential is ErrAccessDenied, a service that
// does not answer ErrUnreachable; errors name the service and the access
// key id, never a secret.
type KeyAdmin interface {
	// CreateUser adds a user with its own key pair and role. An access
	// key id already taken is ErrUserExists (its secret is left as it
	// was).
	CreateUser(ctx context.Context, accessKey string, secret keys.Secret, role string) error
	// DeleteUser deletes the user and so its key, and confirms from the
	// user list that it is gone. It is idempotent: a key already absent
	// is success with existed false, so that a rerun can record that.
	// Deleting the admin credential's own key is refused (ErrOwnKey).
	DeleteUser(ctx context.Context, accessKey string) (existed bool, err error)
	// ListUsers lists the service's users (without the root user, which
	// no admin API can delete).
	ListUsers(ctx context.Context) ([]User, error)
}

// NewKeyAdmin returns the KeyAdmin of t's provider.
func NewKeyAdmin(t AdminTarget) (KeyAdmin, error) {
	switch t.Provider {
	case "versitygw":
		return &versityAdmin{t: t, hc: adminHTTPClient()}, nil
	}
	return nil, fmt.Errorf("%w: %q (supported: %s)", ErrUnknownProvider, t.Provider, strings.Join(config.S3AdminProviders, ", "))
}

// adminTimeout bounds one admin or probe request.
const adminTimeout = 30 * time.Second

func adminHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = headerTimeout
	return &http.Client{Transport: tr, Timeout: adminTimeout}
}

// versityAdmin is versitygw's admin API (cmd/versitygw admin, served on
// --admin-port): PATCH /create-user, /delete-user?access=…, /list-users,
// each signed with AWS SigV4 (service s3, the server's region) by a user
// with role admin or the root user. Answers are S3-style XML.
type versityAdmin struct {
	t  AdminTarget
	hc *http.Client
}

// versityAccount is the body of create-user (versitygw's auth.Account).
type versityAccount struct {
	XMLName   xml.Name `xml:"Account"`
	Access    string
	Secret    string
	Role      string
	UserID    int
	GroupID   int
	ProjectID int
}

func (v *versityAdmin) CreateUser(ctx context.Context, accessKey string, secret keys.Secret, role string) error {
	body, err := xml.Marshal(versityAccount{Access: accessKey, Secret: string(secret.Reveal()), Role: role})
	if err != nil {
		return fmt.Errorf("create S3 user %q: %w", accessKey, err)
	}
	defer keys.Secret(body).Wipe()
	_, err = v.call(ctx, "create-user", nil, body)
	var ae *adminError
	if errors.As(err, &ae) && ae.Code == "XAdminUserExists" {
		return fmt.Errorf("create S3 user %q at %s: %w", accessKey, v.t.URL, ErrUserExists)
	}
	if err != nil {
		return fmt.Errorf("create S3 user %q: %w", accessKey, err)
	}
	return nil
}

func (v *versityAdmin) DeleteUser(ctx context.Context, accessKey string) (bool, error) {
	if accessKey == "" {
		return false, errors.New("delete S3 user: no access key id given")
	}
	if accessKey == string(v.t.AccessKey.Reveal()) {
		return false, fmt.Errorf("delete S3 user %q at %s: %w: give the account another admin credential", accessKey, v.t.URL, ErrOwnKey)
	}
	before, err := v.ListUsers(ctx)
	if err != nil {
		return false, fmt.Errorf("delete S3 user %q: %w", accessKey, err)
	}
	existed := hasUser(before, accessKey)
	// versitygw's internal IAM answers success for an unknown key; other
	// IAM backends answer XAdminUserNotFound. Both mean absent.
	_, err = v.call(ctx, "delete-user", url.Values{"access": {accessKey}}, nil)
	var ae *adminError
	if errors.As(err, &ae) && ae.Code == "XAdminUserNotFound" {
		err = nil
	}
	if err != nil {
		return existed, fmt.Errorf("delete S3 user %q: %w", accessKey, err)
	}
	after, err := v.ListUsers(ctx)
	if err != nil {
		return existed, fmt.Errorf("delete S3 user %q: confirm: %w", accessKey, err)
	}
	if hasUser(after, accessKey) {
		return existed, fmt.Errorf("delete S3 user %q at %s: the service still lists it after deleting it", accessKey, v.t.URL)
	}
	return existed, nil
}

func hasUser(us []User, accessKey string) bool {
	return slices.ContainsFunc(us, func(u User) bool { return u.AccessKey == accessKey })
}

func (v *versityAdmin) ListUsers(ctx context.Context) ([]User, error) {
	body, err := v.call(ctx, "list-users", nil, nil)
	// The answer carries every user's secret: read the ids and roles,
	// then wipe it.
	defer keys.Secret(body).Wipe()
	if err != nil {
		return nil, fmt.Errorf("list S3 users: %w", err)
	}
	var res struct {
		Accounts []struct {
			Access string
			Role   string
		}
	}
	if err := xml.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("list S3 users at %s: the answer is not a user list: %w", v.t.URL, err)
	}
	users := make([]User, 0, len(res.Accounts))
	for _, a := range res.Accounts {
		users = append(users, User{AccessKey: a.Access, Role: a.Role})
	}
	return users, nil
}

// call sends one signed admin request and returns the answer's body; a
// refused request is an *adminError.
func (v *versityAdmin) call(ctx context.Context, op string, query url.Values, body []byte) ([]byte, error) {
	u := v.t.URL + "/" + op
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	resp, err := signedDo(ctx, v.hc, http.MethodPatch, u, body, v.t.AccessKey, v.t.SecretKey, v.t.Region)
	if err != nil {
		return nil, unreachable(v.t.URL, "admin API", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswer))
	if err != nil {
		return data, unreachable(v.t.URL, "admin API", err)
	}
	if resp.StatusCode >= 300 {
		ae := parseAdminError(resp, data)
		keys.Secret(data).Wipe()
		switch ae.Code {
		case "XAdminAccessDenied", "AccessDenied":
			return nil, fmt.Errorf("%s: %w (%s): the admin credential must be the root user or a user with role admin", v.t.URL, ErrAccessDenied, ae.Code)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return nil, fmt.Errorf("%s: %w (%s): check the admin access_key and secret_key", v.t.URL, ErrAccessDenied, ae.Code)
		case "AuthorizationHeaderMalformed":
			return nil, fmt.Errorf("%s: %w (%s: %s): set admin.region to the region the server serves", v.t.URL, ErrAccessDenied, ae.Code, ae.Message)
		}
		return nil, fmt.Errorf("%s: %w", v.t.URL, ae)
	}
	return data, nil
}

// maxAdminAnswer bounds what is read of one admin answer (a user list of
// some thousands of users).
const maxAdminAnswer = 16 << 20

// adminError is an S3-style error answer: its code and message (never the
// request, which may carry a secret).
type adminError struct {
	Status  string
	Code    string
	Message string
}

func (e *adminError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s (%s)", e.Code, e.Status)
	}
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Status)
}

func parseAdminError(resp *http.Response, body []byte) *adminError {
	var x struct {
		Code    string
		Message string
	}
	_ = xml.Unmarshal(body, &x)
	return &adminError{Status: resp.Status, Code: x.Code, Message: x.Message}
}

// signedDo sends a request signed with AWS SigV4 for service s3 in region.
func signedDo(ctx context.Context, hc *http.Client, method, u string, body []byte, access, secret keys.Secret, region string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req = signer.SignV4(*req, string(access.Reveal()), string(secret.Reveal()), "", region)
	return hc.Do(req)
}

// unreachable wraps a transport error as ErrUnreachable, naming what did
// not answer.
func unreachable(where, what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %s: %w", what, where, err)
	}
	return fmt.Errorf("%s %s: %w (%v): check the endpoint and that the server runs", what, where, ErrUnreachable, err)
}

// defaultSigningRegion signs a probe whose target names no region.
const defaultSigningRegion = "us-east-1"

// KeyRefused tries t's key pair on t's endpoint with one signed request
// (ListBuckets, GET /, signed for t.Region) and reports whether the
// server refused it as an unknown key (InvalidAccessKeyId): the
// post-condition of a revoked access key. answer is what the server said
// ("InvalidAccessKeyId", "200 OK", "AccessDenied", …) for the evidence.
//
// A key the server still knows is not refused, even when the request
// fails for another reason (AccessDenied: the key lacks the permission;
// SignatureDoesNotMatch: the key exists with another secret): refused is
// false and err nil. When the server could not be asked or its answer
// does not say whether the key exists (no answer, a region it refuses, a
// server error), err says so and refused is false: never read that as
// revoked.
func KeyRefused(ctx context.Context, t Target) (refused bool, answer string, err error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	region := t.Region
	if region == "" {
		region = defaultSigningRegion
	}
	hc := adminHTTPClient()
	defer hc.CloseIdleConnections()
	resp, err := signedDo(ctx, hc, http.MethodGet, t.URL()+"/", nil, t.AccessKey, t.SecretKey, region)
	if err != nil {
		return false, "", unreachable(t.Host, "S3 endpoint", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, "", unreachable(t.Host, "S3 endpoint", err)
	}
	if resp.StatusCode < 300 {
		return false, resp.Status, nil
	}
	ae := parseAdminError(resp, data)
	switch ae.Code {
	case "InvalidAccessKeyId":
		return true, ae.Code, nil
	case "AccessDenied", "SignatureDoesNotMatch":
		return false, ae.Code, nil
	case "AuthorizationHeaderMalformed":
		return false, ae.Code, fmt.Errorf("S3 endpoint %s refused a request signed for region %q (%s): set the target's s3.region to the region the server serves, then check again", t.Host, region, ae.Message)
	}
	return false, cmp.Or(ae.Code, resp.Status), fmt.Errorf("S3 endpoint %s: %v: the answer does not say whether the key exists", t.Host, ae)
}
