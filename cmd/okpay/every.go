package main

import (
	"context"
	"time"
)

// every runs fn every d in its own goroutine until ctx ends: serve's
// periodic jobs (sweeps, expiries, the desk's routing and SLA checks).
func every(ctx context.Context, d time.Duration, fn func()) {
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			fn()
		}
	}()
}
