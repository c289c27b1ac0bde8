package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"steward/internal/config"
)

// Timeouts of the daemon's HTTP server: a slow or stalled client cannot
// hold a connection (or a goroutine) for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	// writeTimeout allows a large report download on a slow link.
	writeTimeout    = 5 * time.Minute
	idleTimeout     = 2 * time.Minute
	shutdownTimeout = 10 * time.Second
)

// Listener is a serving HTTP server.
type Listener struct {
	srv  *http.Server
	addr net.Addr
	tls  bool
	done chan error
}

// Listen serves h on cfg.Listen (host:port; port 0 picks a free one) until
// ctx ends, then shuts down gracefully: it stops accepting, lets running
// requests finish for up to 10 s, and closes the rest. With cfg.TLSCert and
// cfg.TLSKey it serves HTTPS (TLS 1.2 or newer). An address off loopback
// without TLS is refused (ErrPlainNetwork): the bearer token must not
// cross a network in clear text.
func Listen(ctx context.Context, cfg config.Server, h http.Handler, log *slog.Logger) (*Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	useTLS := cfg.TLSCert != "" || cfg.TLSKey != ""
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen: %q is not host:port, e.g. 127.0.0.1:8420", cfg.Listen)
	}
	if !useTLS && !IsLoopback(host) {
		return nil, fmt.Errorf("server.listen %s: %w: set server.tls_cert and server.tls_key, or listen on 127.0.0.1", cfg.Listen, ErrPlainNetwork)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if useTLS {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("server.tls_cert, server.tls_key: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	l := &Listener{srv: srv, addr: ln.Addr(), tls: useTLS, done: make(chan error, 1)}
	served := make(chan error, 1)
	go func() {
		if useTLS {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	go func() {
		var err error
		select {
		case err = <-served: // failed on its own
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
			err = srv.Shutdown(sctx)
			cancel()
			if err != nil {
				srv.Close()
			}
			if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
				err = serr
			}
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		l.done <- err
	}()
	log.Info("listening", "url", l.URL())
	return l, nil
}

// URL is where the server answers, e.g. http://127.0.0.1:8420.
func (l *Listener) URL() string {
	scheme := "http"
	if l.tls {
		scheme = "https"
	}
	return scheme + "://" + l.addr.String()
}

// Addr is the address it listens on.
func (l *Listener) Addr() net.Addr { return l.addr }

// Wait returns once the server has stopped (after Listen's ctx ended and
// the shutdown finished), with why it stopped if not by that.
func (l *Listener) Wait() error { return <-l.done }

// IsLoopback reports whether host (a name or an address) is the loopback
// interface only.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
