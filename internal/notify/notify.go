package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"steward/internal/audit"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
)

// Alert kinds.
const (
	KindBackupFailed   = "backup_failed"
	KindDrillFailed    = "drill_failed"
	KindCheckFailed    = "check_failed"
	KindMissedSchedule = "missed_schedule"
	KindClockUnsynced  = "clock_unsynchronised"
	KindContractEnd    = "contract_end_approaching"
	KindEraseStep      = "erase_step"
)

// Severities.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is one thing an operator must hear about. Subject and Detail are
// Steward's words (ids, names of jobs and repositories), never contract
// content or a secret.
type Alert struct {
	Kind     string
	Severity string
	Subject  string
	Detail   string
	// Job is the job concerned ("" for none).
	Job string
	// Time is when it happened (zero: now).
	Time time.Time
}

// Message is the webhook's JSON body.
type Message struct {
	Contract string `json:"contract"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Subject  string `json:"subject"`
	Detail   string `json:"detail,omitempty"`
	Job      string `json:"job,omitempty"`
	// Time is RFC 3339 in the contract's zone.
	Time string `json:"time"`
}

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>".
const SignatureHeader = "X-Steward-Signature"

// Sign is the SignatureHeader value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Deps are what New builds a Notifier from.
type Deps struct {
	Config config.Notify
	// Contract is the contract id every alert names.
	Contract string
	// Keys opens sealed secret references (nil when none is sealed).
	Keys  *keys.Keyring
	Audit audit.Appender
	Clock *clock.Zoned
	Log   *slog.Logger
	// RootCAs verify the SMTP server's STARTTLS certificate (nil: the
	// system's roots).
	RootCAs *x509.CertPool
}

// Delivery bounds.
const (
	// webhookBudget bounds one webhook delivery, retries included.
	webhookBudget = 60 * time.Second
	webhookTries  = 5 // the first try and four retries
	// emailBudget bounds one e-mail delivery.
	emailBudget = 60 * time.Second
	pingBudget  = 20 * time.Second
)

// Notifier sends alerts through the configured channels. It is safe for
// concurrent use.
type Notifier struct {
	d      Deps
	secret keys.Secret // the webhook's HMAC key
	mail   *emailer
	log    *slog.Logger
}

// New resolves the channels' secrets (an unresolvable one is an error
// naming its field) and returns the notifier. With nothing configured it
// sends nothing.
func New(d Deps) (*Notifier, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = clock.New(time.UTC, nil)
	}
	n := &Notifier{d: d, log: d.Log.With("component", "notify")}
	if w := d.Config.Webhook; w != nil {
		s, err := keys.Resolve(d.Keys, "notify.webhook.secret", string(w.Secret))
		if err != nil {
			return nil, err
		}
		n.secret = s
	}
	if e := d.Config.Email; e != nil {
		m, err := newEmailer(e, d)
		if err != nil {
			return nil, err
		}
		n.mail = m
	}
	return n, nil
}

// Send delivers a through every configured channel, and records each
// delivery (or failure) in the audit log. The error wraps
// ErrNotDelivered and names every channel that failed.
func (n *Notifier) Send(ctx context.Context, a Alert) error {
	if a.Time.IsZero() {
		a.Time = n.d.Clock.Now()
	}
	if a.Severity == "" {
		a.Severity = SeverityWarning
	}
	var errs []error
	if n.d.Config.Webhook != nil {
		tries, err := n.webhook(ctx, a)
		n.record(ctx, "notify.webhook", a, err, map[string]string{"endpoint": redact(n.d.Config.Webhook.URL), "attempts": fmt.Sprint(tries)})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if n.mail != nil {
		err := n.mail.send(ctx, n.d.Contract, a, n.d.Clock.Format(a.Time))
		n.record(ctx, "notify.email", a, err, map[string]string{"smtp": n.d.Config.Email.SMTP, "recipients": fmt.Sprint(len(n.d.Config.Email.To))})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s: %w", ErrNotDelivered, a.Kind, errors.Join(errs...))
	}
	return nil
}

func (n *Notifier) record(ctx context.Context, action string, a Alert, err error, details map[string]string) {
	details["kind"], details["severity"] = a.Kind, a.Severity
	if a.Job != "" {
		details["job"] = a.Job
	}
	result := audit.ResultOK
	if err != nil {
		result, details["error"] = audit.ResultFailed, err.Error()
		n.log.Error("alert not delivered", "channel", action, "kind", a.Kind, "err", err)
	}
	if n.d.Audit == nil {
		return
	}
	if _, aerr := n.d.Audit.Append(context.WithoutCancel(ctx), audit.Entry{Actor: "steward", Action: action, Target: a.Kind, Result: result, Details: details}); aerr != nil {
		n.log.Error("audit append failed", "action", action, "err", aerr)
	}
}

// webhook posts the signed message, retrying a connection error, a 429 or
// a 5xx with exponential backoff, for at most webhookBudget.
func (n *Notifier) webhook(ctx context.Context, a Alert) (tries int, err error) {
	body, err := json.Marshal(Message{Contract: n.d.Contract, Kind: a.Kind, Severity: a.Severity, Subject: a.Subject, Detail: a.Detail, Job: a.Job, Time: n.d.Clock.Format(a.Time)})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, webhookBudget)
	defer cancel()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, n.d.Config.Webhook.URL, body)
	if err != nil {
		return 0, fmt.Errorf("webhook %s: %w", redact(n.d.Config.Webhook.URL), unwrapURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "steward")
	req.Header.Set(SignatureHeader, Sign(n.secret.Reveal(), body))
	return n.do(req, "webhook "+redact(n.d.Config.Webhook.URL))
}

// do sends req, retrying a connection error, a 429 or a 5xx with
// exponential backoff (0.5 s doubling to 8 s, at most webhookTries tries,
// within req's context), and says how many tries it took.
func (n *Notifier) do(req *retryablehttp.Request, what string) (int, error) {
	tries := 0
	c := retryablehttp.NewClient()
	c.HTTPClient = cleanhttp.DefaultClient() // no keep-alive: an alert is rare, and no idle goroutine outlives it
	c.HTTPClient.Timeout = 15 * time.Second
	c.RetryMax = webhookTries - 1
	c.RetryWaitMin, c.RetryWaitMax = 500*time.Millisecond, 8*time.Second
	c.Logger = nil                                         // its log lines carry the URL, which may hold a token
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler // the last response or error, for our own message
	c.RequestLogHook = func(_ retryablehttp.Logger, _ *http.Request, _ int) { tries++ }
	resp, err := c.Do(req)
	if err != nil {
		return tries, fmt.Errorf("%s: %w (after %d attempt(s))", what, unwrapURL(err), tries)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return tries, fmt.Errorf("%s: HTTP %s (after %d attempt(s))", what, resp.Status, tries)
	}
	return tries, nil
}

// Ping kinds.
const (
	PingStart   = "start"
	PingSuccess = "success"
	PingFail    = "fail"
)

// Ping tells a healthchecks-style service that job's run started,
// succeeded or failed: notify.ping_url with {job} replaced, and "/start"
// or "/fail" appended. Without ping_url it does nothing. A failed ping is
// logged and recorded in the audit log (a delivered one is not: the run
// itself is on record), and returned.
func (n *Notifier) Ping(ctx context.Context, job, kind string) error {
	raw := n.d.Config.PingURL
	if raw == "" {
		return nil
	}
	u := strings.ReplaceAll(raw, "{job}", url.PathEscape(job))
	switch kind {
	case PingStart:
		u = strings.TrimSuffix(u, "/") + "/start"
	case PingFail:
		u = strings.TrimSuffix(u, "/") + "/fail"
	case PingSuccess:
	default:
		return fmt.Errorf("ping kind %q: use start, success or fail", kind)
	}
	ctx, cancel := context.WithTimeout(ctx, pingBudget)
	defer cancel()
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err == nil {
		req.Header.Set("User-Agent", "steward")
		_, err = n.do(req, "ping "+redact(u))
	}
	if err != nil {
		n.record(ctx, "notify.ping", Alert{Kind: "ping_" + kind, Severity: SeverityWarning, Job: job}, err, map[string]string{"endpoint": redact(u)})
	}
	return err
}

// redact is a URL without its path, query and user: those may hold a
// token (many webhook and ping URLs do), so only scheme and host reach
// logs, errors and the audit log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// unwrapURL drops the *url.Error wrapper, which quotes the whole URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// body is the text of an alert's e-mail.
func body(contract string, a Alert, when string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n\n", a.Subject)
	if a.Detail != "" {
		fmt.Fprintf(&b, "%s\n\n", a.Detail)
	}
	fmt.Fprintf(&b, "contract: %s\nkind:     %s\nseverity: %s\n", contract, a.Kind, a.Severity)
	if a.Job != "" {
		fmt.Fprintf(&b, "job:      %s\n", a.Job)
	}
	fmt.Fprintf(&b, "time:     %s\n\n-- \nSteward\n", when)
	return b.Bytes()
}
