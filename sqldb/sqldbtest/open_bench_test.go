package sqldbtest

import "testing"

// BenchmarkOpen measures what every storage test pays first: a fresh,
// migrated database.
func BenchmarkOpen(b *testing.B) {
	for _, d := range Dialects {
		b.Run(string(d), func(b *testing.B) {
			for b.Loop() {
				Open(b, d)
			}
		})
	}
}
