package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestEvery: the job runs again and again, and never once its context
// has ended.
func TestEvery(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int64
	every(ctx, time.Millisecond, func() { runs.Add(1) })
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("ran %d times in 5 s", runs.Load())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	time.Sleep(20 * time.Millisecond) // a run under way may finish
	n := runs.Load()
	time.Sleep(50 * time.Millisecond)
	if got := runs.Load(); got != n {
		t.Fatalf("ran %d more times after its context ended", got-n)
	}
}
