package bench

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/stat's counters (USER_HZ, 100 on every
// Linux this runs on).
const clockTick = 10 * time.Millisecond

// machineBusy returns the CPU time the whole machine (every core, every
// process, the kernel) has spent busy since boot, from /proc/stat; false
// where there is no /proc/stat.
func machineBusy() (time.Duration, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, false
	}
	return parseProcStat(line)
}

// parseProcStat reads the "cpu" line of /proc/stat: user nice system idle
// iowait irq softirq steal ...; busy is everything but idle and iowait.
func parseProcStat(line string) (time.Duration, bool) {
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, s := range f[1:] {
		if i >= 8 { // guest times are already counted in user and nice
			break
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, false
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += v
	}
	return time.Duration(busy) * clockTick, true
}

// cpuOver measures the machine's busy CPU time between from and to, in
// the background; the returned function waits for it (0: unknown, or ctx
// ended first).
func cpuOver(ctx context.Context, from, to time.Time) func() time.Duration {
	done := make(chan time.Duration, 1)
	go func() {
		wait := func(t time.Time) bool {
			timer := time.NewTimer(time.Until(t))
			defer timer.Stop()
			select {
			case <-timer.C:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !wait(from) {
			done <- 0
			return
		}
		b0, ok := machineBusy()
		if !ok || !wait(to) {
			done <- 0
			return
		}
		b1, ok := machineBusy()
		if !ok {
			done <- 0
			return
		}
		done <- b1 - b0
	}()
	return func() time.Duration { return <-done }
}
