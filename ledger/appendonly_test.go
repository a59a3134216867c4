package ledger_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoJournalMutationInCode scans every non-test Go and SQL file of the
// module: no statement may UPDATE or DELETE journal rows (corrections are
// new entries). The database triggers enforce the same at run time.
func TestNoJournalMutationInCode(t *testing.T) {
	bad := regexp.MustCompile(`(?i)\b(update|delete\s+from|truncate(\s+table)?)\s+(journal_entries|postings)\b`)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".sql") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "TRIGGER") || strings.Contains(line, "append-only") || strings.Contains(line, "-- ") {
				continue // the triggers that forbid it, and comments
			}
			if bad.MatchString(line) {
				t.Errorf("%s:%d mutates the journal: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("only %d files checked: wrong root %s?", checked, root)
	}
}
