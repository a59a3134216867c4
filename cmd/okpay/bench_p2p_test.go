package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchP2PTiny runs okpay bench p2p at its smallest: customers signed
// up, funded and paying a payee once by SMS code, signed in through the
// API with their authenticator app, then transfers over HTTP without a
// single error, the ledger alone beside them, and the report written
// with the notes below its marker kept.
func TestBenchP2PTiny(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("signs customers up with production password hashing")
	}
	out := filepath.Join(t.TempDir(), "wallet.md")
	notes := p2pKeepMarker + "\n\n## Notes\n\nkept\n"
	if err := os.WriteFile(out, []byte("# old report\n\n"+notes), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(t.TempDir(), "prof")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, []string{"okpay", "bench", "p2p", "--users", "3", "--concurrency", "4", "--warmup", "1s", "--duration", "2s",
		"--rounds", "1", "--ledger-accounts", "20", "--profile", prof, "--out", out}, noEnv, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench p2p: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{"# okpay bench p2p", "| 1 |", "| **median** |", "0 errors in all rounds", "the ledger alone", "| profiled (not in the median) |", notes} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "# old report") || strings.Contains(md, "First error seen") {
		t.Errorf("report:\n%s", md)
	}
	if strings.Contains(md, "**0 transfers/s**") {
		t.Errorf("no transfer went through:\n%s", md)
	}
	for _, f := range []string{"cpu.pprof", "block.pprof", "mutex.pprof", "drain-cpu.pprof"} {
		if st, err := os.Stat(filepath.Join(prof, f)); err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v", f, err)
		}
	}
}

// TestP2PReportRateWithDelivery: the report adds, to each round's
// measured time, the time its notices then took to be sent.
func TestP2PReportRateWithDelivery(t *testing.T) {
	t.Parallel()
	rounds := []p2pRound{
		{Transfers: 8000, Elapsed: 8 * time.Second, Drain: 2 * time.Second},  // 1000/s, 800/s with delivery
		{Transfers: 9000, Elapsed: 8 * time.Second, Drain: 1 * time.Second},  // 1125/s, 1000/s
		{Transfers: 6000, Elapsed: 8 * time.Second, Drain: 12 * time.Second}, // 750/s, 300/s
	}
	md := p2pMarkdown(time.Now(), p2pBenchConfig{users: 2, concurrency: 2, warmup: time.Second, duration: 8 * time.Second}, rounds, nil)
	if !strings.Contains(md, "**1000 transfers/s**") || !strings.Contains(md, "the time of 800 transfers/s (median)") {
		t.Errorf("report:\n%s", md)
	}
	rounds[1].Left = 5 // a round whose notices were not all sent has no such rate
	if r := rounds[1].rateWithDelivery(); r != 0 {
		t.Errorf("rate with delivery of an undrained round: %v", r)
	}
}
