package ledger

import (
	"testing"
	"time"
)

// gather takes what keeps arriving within the gap, stops at the first
// silence longer than it, and never takes more than the limit.
func TestGatherTakesWhatKeepsArriving(t *testing.T) {
	queue := make(chan *request, 16)
	reqs := make([]*request, 8)
	for i := range reqs {
		reqs[i] = &request{}
	}
	go func() {
		for _, r := range reqs[:5] { // a burst: each well within the gap
			queue <- r
			time.Sleep(time.Millisecond)
		}
		time.Sleep(400 * time.Millisecond) // a silence: the batch is closed
		for _, r := range reqs[5:] {
			queue <- r
		}
	}()
	start := time.Now()
	batch := gather(queue, []*request{{}}, 100, 100*time.Millisecond, 10*time.Second)
	if len(batch) != 6 {
		t.Fatalf("gathered %d requests, want the first one and the burst of 5", len(batch))
	}
	for i, r := range batch[1:] {
		if r != reqs[i] {
			t.Fatalf("request %d out of order", i)
		}
	}
	if d := time.Since(start); d >= 400*time.Millisecond {
		t.Errorf("gather waited %v, past the silence", d)
	}

	// The limit ends it at once, with the rest left queued.
	time.Sleep(450 * time.Millisecond) // the last three are queued by now
	batch = gather(queue, nil, 2, time.Minute, time.Minute)
	if len(batch) != 2 || batch[0] != reqs[5] || batch[1] != reqs[6] || len(queue) != 1 {
		t.Fatalf("with a limit of 2: %d gathered, %d left", len(batch), len(queue))
	}

	// The overall bound ends it even while requests keep coming.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case queue <- &request{}:
			case <-stop:
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	start = time.Now()
	batch = gather(queue, nil, 1<<20, time.Second, 50*time.Millisecond)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gather ran %v past its 50 ms bound", d)
	}
	if len(batch) < 2 {
		t.Fatalf("gathered %d requests from a steady stream", len(batch))
	}
}
