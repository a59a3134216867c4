package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The server of okpay bench chat: okpay serve itself (serve.go) in this
// process, with the flags' defaults but a fresh database, a free loopback
// port, development mode, warnings only in its log, and the client
// process as the trusted proxy telling each visitor's address.

type chatServer struct {
	addr   string
	logs   *chatLog
	cancel context.CancelFunc
	done   chan error
}

// chatLog is a goroutine-safe, bounded buffer of the server's output that
// reports the listening address once.
type chatLog struct {
	mu   sync.Mutex
	b    strings.Builder
	addr chan string
	sent bool
}

var chatListenRE = regexp.MustCompile(`listening on http://(\S+)`)

func (w *chatLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 256<<10 {
		w.b.Write(p)
	}
	if !w.sent && w.addr != nil {
		if m := chatListenRE.FindStringSubmatch(w.b.String()); m != nil {
			w.addr <- m[1]
			w.sent = true
		}
	}
	return len(p), nil
}

func (w *chatLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func startChatServer(ctx context.Context, dbURL string) (*chatServer, error) {
	noEnv := &env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	fs := newFlagSet("serve", "", noEnv)
	var c serveConfig
	c.db.register(fs)
	c.identity.register(fs)
	c.agents.register(fs)
	c.psp.register(fs)
	c.policy.register(fs)
	if err := fs.Parse(nil); err != nil {
		return nil, err
	}
	c.db.url = dbURL
	c.addr, c.logLevel, c.maxBatch, c.writers, c.shutdownWait = "127.0.0.1:0", "warn", 512, 1, 10*time.Second
	c.proxies = "127.0.0.1"
	c.identity.dev = "on"
	out := &chatLog{addr: make(chan string, 1)}
	logs := &chatLog{}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &chatServer{logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- serve(sctx, &env{getenv: noEnv.getenv, stdin: strings.NewReader(""), stdout: out, stderr: logs}, c)
	}()
	select {
	case s.addr = <-out.addr:
		return s, nil
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("the server did not start: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		cancel()
		return nil, fmt.Errorf("the server did not start in 60 s\n%s", logs.String())
	}
}

func (s *chatServer) stop() {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
	}
}
