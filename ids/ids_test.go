package ids

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFormatParseRoundTrip(t *testing.T) {
	for _, id := range []int64{1, 31, 32, 1 << 40, 1<<63 - 1} {
		s := Format("acc", id)
		if len(s) != 17 {
			t.Fatalf("Format(%d) = %q: want 17 chars", id, s)
		}
		got, ok := Parse("acc", s)
		if !ok || got != id {
			t.Fatalf("Parse(%q) = %d, %v; want %d", s, got, ok, id)
		}
		// Any case reads as the same id.
		for _, v := range []string{strings.ToUpper(s), "Acc" + strings.ToUpper(s[3:9]) + s[9:]} {
			if got, ok := Parse("acc", v); !ok || got != id {
				t.Fatalf("Parse(%q) = %d, %v; want %d", v, got, ok, id)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	good := Format("acc", 12345)
	for _, s := range []string{"", "acc", "acc_", "ent" + good[3:], "acc-" + good[4:], good + "0", good[:16], "acc_8zzzzzzzzzzzz", "acc_0000000000u00", "acc_00000000000!0", "acc_0000000000000"} {
		if _, ok := Parse("acc", s); ok {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("acc_0000000000001")
	f.Add("acc_7zzzzzzzzzzzz")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := Parse("acc", s)
		if !ok {
			return
		}
		if id <= 0 {
			t.Fatalf("id %d from %q", id, s)
		}
		if _, ok2 := Parse("acc", Format("acc", id)); !ok2 {
			t.Fatalf("formatted id does not parse")
		}
		// Nothing but an id's own text, in some case, is read as it.
		if Format("acc", id) != strings.ToLower(s) {
			t.Fatalf("%q read as %d, which is %q", s, id, Format("acc", id))
		}
	})
}

func TestSnowflakeUniqueAndIncreasingUnderConcurrency(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g, err := NewSnowflake(3, func() time.Time { return now }) // frozen clock: sequence overflow path
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for i := 0; i < 5000; i++ {
				id := g.Next()
				if id <= last {
					t.Errorf("id %d not above %d", id, last)
					return
				}
				last = id
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate id %d", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 40000 {
		t.Fatalf("got %d ids", len(seen))
	}
}

func TestSnowflakeClockStepsBack(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g, _ := NewSnowflake(0, func() time.Time { return now })
	a := g.Next()
	now = now.Add(-time.Hour)
	if b := g.Next(); b <= a {
		t.Fatalf("after the clock stepped back: %d <= %d", b, a)
	}
	if _, err := NewSnowflake(1024, nil); err == nil {
		t.Fatal("node 1024 accepted")
	}
}
