package ledger_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain lowers rapid's default number of property-test sequences so the
// suite stays quick on both engines and under -race; pass
// -rapid.checks=N (e.g. 10000 nightly) to run more.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "rapid.checks" {
			set = true
		}
	})
	if !set {
		flag.Set("rapid.checks", "25")
	}
	os.Exit(m.Run())
}
