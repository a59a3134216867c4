package sqldb_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestListPlaceholders runs the shapes the dispatcher builds with
// ListPlaceholders on both engines — a multi-row insert made only of the
// list, and statements with numbered parameters before an IN list — and
// checks that every value lands where it belongs.
func TestListPlaceholders(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE ph_probe (id BIGINT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '', n BIGINT NOT NULL DEFAULT 0)`); err != nil {
			t.Fatal(err)
		}
		// 300 rows of 2 values: only the list.
		q := []byte(`INSERT INTO ph_probe (id, name) VALUES `)
		var args []any
		for i := 1; i <= 300; i++ {
			if i > 1 {
				q = append(q, ',')
			}
			q = append(q, '(')
			q = sqldb.ListPlaceholders(db.Dialect, q, len(args)+1, 2)
			q = append(q, ')')
			args = append(args, int64(i), "row"+strconv.Itoa(i))
		}
		if _, err := db.Write.ExecContext(ctx, string(q), args...); err != nil {
			t.Fatal(err)
		}
		// Two numbered parameters, then the list from 3.
		upd := []byte(`UPDATE ph_probe SET owner = $1, n = $2 WHERE id IN (`)
		upd = sqldb.ListPlaceholders(db.Dialect, upd, 3, 3)
		upd = append(upd, ')')
		if _, err := db.Write.ExecContext(ctx, string(upd), "alice", int64(7), int64(5), int64(150), int64(300)); err != nil {
			t.Fatal(err)
		}
		// One numbered parameter, then the list from 2.
		sel := []byte(`SELECT id, name FROM ph_probe WHERE owner = $1 AND id IN (`)
		sel = sqldb.ListPlaceholders(db.Dialect, sel, 2, 2)
		sel = append(sel, `) ORDER BY id`...)
		rows, err := db.Read.QueryContext(ctx, string(sel), "alice", int64(150), int64(151))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				t.Fatal(err)
			}
			got = append(got, strconv.FormatInt(id, 10)+"="+name)
		}
		rows.Close()
		if strings.Join(got, " ") != "150=row150" {
			t.Fatalf("selected %v, want [150=row150]", got)
		}
		var owned, sumN, sumID int64
		if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*), SUM(n), SUM(id) FROM ph_probe WHERE owner = 'alice'`).Scan(&owned, &sumN, &sumID); err != nil {
			t.Fatal(err)
		}
		if owned != 3 || sumN != 21 || sumID != 455 {
			t.Fatalf("updated %d rows (n sum %d, id sum %d), want 3 rows 5, 150, 300 with n 7", owned, sumN, sumID)
		}
		var name string
		if err := db.Read.QueryRowContext(ctx, `SELECT name FROM ph_probe WHERE id = 299`).Scan(&name); err != nil || name != "row299" {
			t.Fatalf("row 299 = %q, %v", name, err)
		}
		// The text: anonymous on SQLite, numbered on PostgreSQL.
		want := "$4,$5,$6"
		if db.Dialect == sqldb.SQLite {
			want = "?,?,?"
		}
		if s := string(sqldb.ListPlaceholders(db.Dialect, nil, 4, 3)); s != want {
			t.Fatalf("ListPlaceholders(%s, 4, 3) = %q, want %q", db.Dialect, s, want)
		}
	})
}
