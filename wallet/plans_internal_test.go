package wallet

import (
	"strings"
	"testing"

	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// queryPlan returns SQLite's plan for q, one step a line.
func queryPlan(t *testing.T, db *sqldb.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Read.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// TestSweepDueReadsIndexes: the withdrawals' once-a-minute check reads
// the partial indexes of the two statuses it looks for, never the whole
// transactions table (SQLite's plan; migration 41 gives PostgreSQL the
// same index).
func TestSweepDueReadsIndexes(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	plan := queryPlan(t, db, qSweepDue, 1, 2)
	for _, want := range []string{"wallet_txns_awaiting", "wallet_txns_authorized"} {
		if !strings.Contains(plan, want) {
			t.Errorf("the plan does not use %s:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "SCAN wallet_txns") {
		t.Errorf("the plan reads the whole table:\n%s", plan)
	}
}

// TestHistoryPlanWalksBackwards: on SQLite a page of history reads the
// per-user table newest first and stops at the page's end (the merge's
// left side sorts nothing), whatever the filters; only the small queue is
// sorted.
func TestHistoryPlanWalksBackwards(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	for _, conds := range []string{"", " AND t.type = $2 AND u.id < $3", " AND t.created_at >= $2 AND t.currency = $3"} {
		plan := queryPlan(t, db, txnListQuery(sqldb.SQLite, conds, " LIMIT $4"), 1, "deposit", 3, 4)
		left, _, ok := strings.Cut(plan, "RIGHT")
		if !ok || !strings.Contains(plan, "MERGE") || !strings.Contains(left, "SEARCH u USING PRIMARY KEY (user_id=?") || strings.Contains(left, "TEMP B-TREE") {
			t.Errorf("conditions %q: the per-user side is not walked in order:\n%s", conds, plan)
		}
	}
}
