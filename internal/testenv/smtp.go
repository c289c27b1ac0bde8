package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTP is an SMTP server on loopback that offers STARTTLS with a
// self-signed certificate for 127.0.0.1 and keeps each message it
// receives. It is the receiving end of Steward's e-mail alerts in tests
// (go-mail speaks real SMTP to it); it is not a mail system.
type SMTP struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Roots trusts the server's certificate (for an in-process client).
	Roots *x509.CertPool
	// CAFile is the certificate in PEM: a subprocess trusts it with
	// SSL_CERT_FILE=CAFile.
	CAFile string

	ln       net.Listener
	cert     tls.Certificate
	mu       sync.Mutex
	messages []SMTPMessage
	wg       sync.WaitGroup
}

// SMTPMessage is one message the server received.
type SMTPMessage struct {
	From string   // MAIL FROM argument
	To   []string // RCPT TO arguments
	Data string   // headers and body
	TLS  bool     // sent after STARTTLS
}

// StartSMTP starts an SMTP server on loopback, stopped at the test's end.
func StartSMTP(t testing.TB) *SMTP {
	t.Helper()
	cert, pemBytes := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp: %v", err)
	}
	s := &SMTP{Addr: ln.Addr().String(), ln: ln, cert: cert, Roots: x509.NewCertPool()}
	s.Roots.AppendCertsFromPEM(pemBytes)
	s.CAFile = filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(s.CAFile, pemBytes, 0o600); err != nil {
		t.Fatalf("smtp: %v", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// Messages are the messages received so far, oldest first.
func (s *SMTP) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.messages...)
}

func (s *SMTP) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 localhost ESMTP test")
	var msg SMTPMessage
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			if msg.TLS {
				tp.PrintfLine("250-localhost\r\n250 8BITMIME")
			} else {
				tp.PrintfLine("250-localhost\r\n250-STARTTLS\r\n250 8BITMIME")
			}
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tp, msg.TLS = tc, textproto.NewConn(tc), true
		case "MAIL":
			msg.From = arg
			tp.PrintfLine("250 ok")
		case "RCPT":
			msg.To = append(msg.To, arg)
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			msg.Data = string(b)
			s.mu.Lock()
			s.messages = append(s.messages, msg)
			s.mu.Unlock()
			msg = SMTPMessage{TLS: msg.TLS}
			tp.PrintfLine("250 queued")
		case "NOOP", "RSET":
			tp.PrintfLine("250 ok")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 not implemented")
		}
	}
}

// selfSigned is a certificate for 127.0.0.1, valid for an hour, and its
// PEM.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "steward test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
