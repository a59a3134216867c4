package main

import (
	"strings"
	"testing"
)

// TestTextTableAlignsWideCharacters: a column after a Chinese name starts
// at the same terminal column on every row (text/tabwriter counted 李伟 as
// two columns wide instead of four), and no line ends in spaces.
func TestTextTableAlignsWideCharacters(t *testing.T) {
	t.Parallel()
	var tt textTable
	tt.row("EMAIL", "NAME", "LANG")
	tt.row("li.wei@demo.okpay.test", "李伟", "zh-CN")
	tt.row("emma.clark@demo.okpay.test", "Emma Clark", "en")
	tt.row("agent@demo.okpay.test", "Chen Jing 陈静", "zh-CN")
	var b strings.Builder
	if err := tt.write(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	// The terminal column where LANG's cell starts, on every line.
	want := -1
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line ends in spaces: %q", l)
		}
		i := strings.LastIndex(l, "  ")
		col := displayWidth(l[:i+2])
		if want == -1 {
			want = col
		} else if col != want {
			t.Errorf("the last column starts at %d, want %d:\n%s", col, want, b.String())
		}
	}
	if got := displayWidth("李伟 ab"); got != 7 {
		t.Errorf("displayWidth = %d, want 7", got)
	}
}
