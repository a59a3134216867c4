package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// okpay bench chat runs its load generator as a child process of its own
// executable, which under go test is the test binary: with this variable
// set, the test binary is the program instead.
const benchChatChildEnv = "OKPAY_TEST_BENCH_CHAT_CHILD"

func init() {
	if os.Getenv(benchChatChildEnv) == "1" && len(os.Args) > 2 && os.Args[1] == "bench" && os.Args[2] == "chat-client" {
		err := run(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "okpay:", err)
		}
		os.Exit(exitCode(err))
	}
}

// TestBenchChatTiny runs okpay bench chat at its smallest: 50 visitors'
// conversations and WebSockets, the memory read, and one round of a
// second at 50 messages/s whose every message reaches its socket.
func TestBenchChatTiny(t *testing.T) {
	t.Setenv(benchChatChildEnv, "1")
	out := filepath.Join(t.TempDir(), "chat.md")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, []string{"okpay", "bench", "chat", "--conns", "50", "--rate", "50", "--warmup", "200ms", "--duration", "1s",
		"--rounds", "1", "--settle", "200ms", "--senders", "8", "--out", out}, noEnv, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench chat: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	report := string(md)
	if !strings.Contains(report, "**50 connections** were open") || !strings.Contains(report, "per connection") {
		t.Errorf("report:\n%s", report)
	}
	// Round 1: sent/s, received, ..., errors, lost, open at end.
	m := regexp.MustCompile(`(?m)^\| 1 \| (\d+) \| (\d+) \|.*\| (\d+) \| (\d+) \| (\d+) \| [\d.]+ \| \d+ MiB \|$`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no round row in:\n%s", report)
	}
	received, _ := strconv.Atoi(m[2])
	if received < 40 || m[3] != "0" || m[4] != "0" || m[5] != "50" {
		t.Errorf("round 1: received %s, errors %s, lost %s, open %s; want ≥ 40 received, no error or loss, 50 open\n%s", m[2], m[3], m[4], m[5], report)
	}
}
