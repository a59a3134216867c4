package realtime_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/okpay/okpay/desk/realtime"
)

var ctx = context.Background()

func TestPublishSubscribe(t *testing.T) {
	bus := realtime.NewMemory(16)
	a, cancelA := bus.Subscribe("t1")
	b, cancelB := bus.Subscribe("t1")
	other, cancelO := bus.Subscribe("t2")
	defer cancelO()
	for i := int64(1); i <= 5; i++ {
		bus.Publish(ctx, "t1", realtime.Event{Type: "message", Seq: i})
	}
	for _, ch := range []<-chan realtime.Event{a, b} {
		for i := int64(1); i <= 5; i++ {
			if e := <-ch; e.Seq != i {
				t.Fatalf("got seq %d, want %d", e.Seq, i)
			}
		}
	}
	select {
	case e := <-other:
		t.Fatalf("another topic's subscriber got %+v", e)
	default:
	}
	cancelA()
	cancelA() // twice is fine
	if _, ok := <-a; ok {
		t.Fatal("channel open after cancel")
	}
	if n := bus.Subscribers("t1"); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	cancelB()
	if n := bus.Subscribers("t1"); n != 0 {
		t.Fatalf("%d subscribers, want 0", n)
	}
	if err := bus.Publish(ctx, "t1", realtime.Event{Type: "x"}); err != nil {
		t.Fatal(err)
	}
}

// A subscriber that does not read is dropped and told to resync; it never
// holds up the publisher or the other subscribers.
func TestSlowSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	const buffer = 16
	bus := realtime.NewMemory(buffer)
	slow, cancelSlow := bus.Subscribe("conv")
	defer cancelSlow()
	fast, cancelFast := bus.Subscribe("conv")
	defer cancelFast()
	const n = 5000
	var read atomic.Int64
	got := make(chan []int64)
	go func() {
		var seqs []int64
		for e := range fast {
			seqs = append(seqs, e.Seq)
			read.Add(1)
			if len(seqs) == n {
				break
			}
		}
		got <- seqs
	}()
	done := make(chan struct{})
	go func() {
		for i := int64(1); i <= n; i++ {
			// Keep the fast reader within its buffer (it reads; the slow
			// one never does).
			for i-read.Load() > buffer/2 {
				time.Sleep(10 * time.Microsecond)
			}
			bus.Publish(ctx, "conv", realtime.Event{Type: "message", Seq: i})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("publishing blocked on a slow subscriber")
	}
	seqs := <-got
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("fast subscriber: event %d has seq %d", i, s)
		}
	}
	var slowGot []realtime.Event
	for e := range slow { // closed after the resync notice
		slowGot = append(slowGot, e)
	}
	if len(slowGot) != buffer+1 || slowGot[buffer].Type != realtime.TypeResync || slowGot[buffer-1].Seq != buffer {
		t.Fatalf("slow subscriber got %d events, last %+v; want %d then resync", len(slowGot), slowGot[len(slowGot)-1], buffer)
	}
	if bus.Dropped() != 1 || bus.Subscribers("conv") != 1 {
		t.Fatalf("dropped %d, %d subscribers left", bus.Dropped(), bus.Subscribers("conv"))
	}
}

// Publishing, subscribing and cancelling from many goroutines at once
// (run with -race): every subscriber sees a prefix of each publisher's
// events in order, or a resync.
func TestConcurrentUse(t *testing.T) {
	bus := realtime.NewMemory(8)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				bus.Publish(ctx, fmt.Sprint("topic", i%3), realtime.Event{Type: "message", Conversation: int64(p), Seq: i})
			}
		}()
	}
	var bad atomic.Int64
	for s := 0; s < 16; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				ch, cancel := bus.Subscribe(fmt.Sprint("topic", s%3))
				last := map[int64]int64{}
				for k := 0; k < 50; k++ {
					var e realtime.Event
					var ok bool
					select {
					case e, ok = <-ch:
					case <-stop:
					}
					if !ok || e.Type == realtime.TypeResync {
						break
					}
					if e.Seq <= last[e.Conversation] {
						bad.Add(1)
					}
					last[e.Conversation] = e.Seq
				}
				cancel()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	close(stop) // subscribers still waiting give up
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d events out of order", bad.Load())
	}
}

// BenchmarkFanout publishes to one topic followed by N subscribers, each
// drained by its own goroutine, and reports deliveries per second and how
// many subscribers fell behind. A sketch for the 10,000-connection
// benchmark to come (which adds the WebSocket writes).
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			bus := realtime.NewMemory(1024)
			var delivered atomic.Int64
			var wg sync.WaitGroup
			cancels := make([]func(), n)
			for i := 0; i < n; i++ {
				ch, cancel := bus.Subscribe("conv")
				cancels[i] = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range ch {
						delivered.Add(1)
					}
				}()
			}
			data := []byte(`{"type":"message","conversation":"cnv_0000000000001","seq":1,"message":{"body":"hello"}}`)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				bus.Publish(ctx, "conv", realtime.Event{Type: "message", Seq: int64(i + 1), Data: data})
			}
			for _, c := range cancels {
				c()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(bus.Dropped()), "dropped")
		})
	}
}

// BenchmarkFanoutManyTopics is the chat's real shape: N conversations,
// each followed by one subscriber, messages published round-robin.
func BenchmarkFanoutManyTopics(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			bus := realtime.NewMemory(64)
			var delivered atomic.Int64
			var wg sync.WaitGroup
			topics := make([]string, n)
			cancels := make([]func(), n)
			for i := range topics {
				topics[i] = fmt.Sprintf("desk.conv.%d.public", i)
				ch, cancel := bus.Subscribe(topics[i])
				cancels[i] = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range ch {
						delivered.Add(1)
					}
				}()
			}
			data := []byte(`{"type":"message"}`)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				bus.Publish(ctx, topics[i%n], realtime.Event{Type: "message", Seq: int64(i/n + 1), Data: data})
			}
			for _, c := range cancels {
				c()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(bus.Dropped()), "dropped")
		})
	}
}

// SubscribeNotify calls notify once per event put in the mailbox, the
// final resync included, and never after cancel; an emptied mailbox holds
// no buffer.
func TestSubscribeNotify(t *testing.T) {
	bus := realtime.NewMemory(3)
	var n atomic.Int64
	box, cancel := bus.SubscribeNotify("t", func() { n.Add(1) })
	if _, ok := box.Next(); ok {
		t.Fatal("an event before any was published")
	}
	bus.Publish(ctx, "t", realtime.Event{Type: "message", Seq: 1})
	if got := n.Load(); got != 1 {
		t.Fatalf("after one event: %d notifications", got)
	}
	if e, ok := box.Next(); !ok || e.Seq != 1 {
		t.Fatalf("Next = %+v, %v; want event 1", e, ok)
	}
	if _, ok := box.Next(); ok {
		t.Fatal("a second event after one was published")
	}
	for i := int64(2); i <= 6; i++ { // the mailbox holds 3: the 4th drops
		bus.Publish(ctx, "t", realtime.Event{Type: "message", Seq: i})
	}
	if got := n.Load(); got != 5 {
		t.Fatalf("%d notifications, want 5 (event 1, 3 events and the resync)", got)
	}
	var got []realtime.Event
	for e, ok := box.Next(); ok; e, ok = box.Next() {
		got = append(got, e)
	}
	if len(got) != 4 || got[0].Seq != 2 || got[2].Seq != 4 || got[3].Type != realtime.TypeResync {
		t.Fatalf("events %+v, want 2, 3, 4 and a resync", got)
	}
	if bus.Subscribers("t") != 0 || bus.Dropped() != 1 {
		t.Fatalf("%d subscribers, %d dropped; want the slow one dropped", bus.Subscribers("t"), bus.Dropped())
	}
	cancel()
	cancel() // twice is fine

	box2, cancel2 := bus.SubscribeNotify("t", func() { n.Add(1) })
	other, cancelOther := bus.SubscribeNotify("t", nil)
	defer cancelOther()
	cancel2()
	bus.Publish(ctx, "t", realtime.Event{Type: "message", Seq: 7})
	if got := n.Load(); got != 5 {
		t.Fatalf("notified after cancel: %d", got)
	}
	if _, ok := box2.Next(); ok {
		t.Fatal("a cancelled subscription received an event")
	}
	if e, ok := other.Next(); !ok || e.Seq != 7 || bus.Subscribers("t") != 1 {
		t.Fatalf("the other subscriber: %+v, %v, %d subscribers", e, ok, bus.Subscribers("t"))
	}
}
