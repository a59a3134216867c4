package ledger

import "testing"

func TestCountColumns(t *testing.T) {
	for into, want := range map[string]int{
		"t (a, b, c)":       3,
		"t(a)":              1,
		"t (a, b) ":         2,
		"t (a, f(b, c), d)": 3,
		"t":                 0,
		"t ()":              0,
		"t (a, b":           0,
		"t (a) VALUES (1)":  0,
		"notification_outbox (id, dedupe_key, user_id, channel, kind, sealed, status, attempts, next_attempt_at, locked_by, last_error, created_at)": 12,
	} {
		if got := countColumns(into); got != want {
			t.Errorf("countColumns(%q) = %d, want %d", into, got, want)
		}
	}
}
