package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	mail "github.com/wneessen/go-mail"

	"steward/internal/config"
	"steward/internal/keys"
)

// emailer sends alerts by SMTP through go-mail.
type emailer struct {
	cfg  *config.Email
	opts []mail.Option
	host string
}

func newEmailer(e *config.Email, d Deps) (*emailer, error) {
	host, portText, err := net.SplitHostPort(e.SMTP)
	if err != nil {
		return nil, fmt.Errorf("notify.email.smtp: %q is not host:port", e.SMTP)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("notify.email.smtp: %q: the port is not a number", e.SMTP)
	}
	policy := mail.TLSMandatory
	switch e.TLS {
	case config.EmailTLSMandatory, "":
	case config.EmailTLSOpportunistic:
		policy = mail.TLSOpportunistic
	case config.EmailTLSNone:
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("notify.email.tls: none is only for an SMTP server on loopback, not %s", e.SMTP)
		}
		policy = mail.NoTLS
	default:
		return nil, fmt.Errorf("notify.email.tls: %q: use mandatory, opportunistic or none", e.TLS)
	}
	opts := []mail.Option{
		mail.WithPort(port), mail.WithTLSPolicy(policy), mail.WithTimeout(emailBudget),
		mail.WithTLSConfig(&tls.Config{ServerName: host, RootCAs: d.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	if e.User != "" {
		pw, err := keys.Resolve(d.Keys, "notify.email.password", string(e.Password))
		if err != nil {
			return nil, err
		}
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(e.User), mail.WithPassword(string(pw.Reveal())))
		pw.Wipe()
	}
	return &emailer{cfg: e, opts: opts, host: host}, nil
}

func (m *emailer) send(ctx context.Context, contract string, a Alert, when string) error {
	msg := mail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return fmt.Errorf("notify.email.from: %w", err)
	}
	if err := msg.To(m.cfg.To...); err != nil {
		return fmt.Errorf("notify.email.to: %w", err)
	}
	msg.Subject(fmt.Sprintf("[Steward %s] %s: %s", contract, a.Severity, a.Subject))
	msg.SetDateWithValue(a.Time)
	msg.SetBodyString(mail.TypeTextPlain, string(body(contract, a, when)))
	c, err := mail.NewClient(m.host, m.opts...)
	if err != nil {
		return fmt.Errorf("e-mail via %s: %w", m.cfg.SMTP, err)
	}
	ctx, cancel := context.WithTimeout(ctx, emailBudget)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("e-mail via %s: %w", m.cfg.SMTP, err)
	}
	return nil
}
