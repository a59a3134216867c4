package bench

import (
	"context"
	"runtime"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	busy, ok := parseProcStat("cpu  100 5 50 1000 40 3 2 1 7 0\n")
	if !ok || busy != (100+5+50+3+2+1)*clockTick {
		t.Fatalf("busy %v, %v", busy, ok)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7", "cpu 1 2 x 4 5 6 7", "cpu 1 2 3", "cpu 1 -2 3 4 5 6 7"} {
		if _, ok := parseProcStat(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCPUOverSeesABusyLoop(t *testing.T) {
	if _, ok := machineBusy(); !ok {
		if runtime.GOOS == "linux" {
			t.Fatal("/proc/stat unreadable on Linux")
		}
		t.Skip("no /proc/stat on " + runtime.GOOS)
	}
	from := time.Now().Add(20 * time.Millisecond)
	to := from.Add(300 * time.Millisecond)
	got := cpuOver(context.Background(), from, to)
	// Keep one core busy through the window.
	for time.Now().Before(to.Add(20 * time.Millisecond)) {
		runtime.Gosched()
	}
	if cpu := got(); cpu < 150*time.Millisecond {
		t.Fatalf("a busy core for 300 ms measured as %v", cpu)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if cpu := cpuOver(ctx, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))(); cpu != 0 {
		t.Fatalf("an ended context measured %v", cpu)
	}
}
