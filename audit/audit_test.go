package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func event(i int) Event {
	return Event{
		At:        time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Name:      AuthnLoginFail,
		Actor:     fmt.Sprintf("usr_%d", i%3),
		Subject:   fmt.Sprintf("usr_%d", i%3),
		IP:        "192.0.2.7",
		DeviceID:  "dev_1",
		RequestID: fmt.Sprintf("req_%d", i),
		Outcome:   Failure,
		Reason:    "wrong password",
		Details:   map[string]string{"attempt": fmt.Sprint(i), "method": "password"},
	}
}

// fill appends n events one by one.
func fill(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if err := l.Record(context.Background(), event(i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func verify(t *testing.T, l *Log) Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func count(t *testing.T, db *sqldb.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Read.QueryRow(`SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAUD04_ConcurrentRecordsFormOneChain(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		l := New(db)
		l.batch = 7 // cross several batch boundaries
		const workers, each = 5, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if err := l.Record(context.Background(), event(w*each+i)); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("record: %v", err)
		}
		rows, err := db.Read.Query(`SELECT seq FROM audit_log ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		want := int64(1)
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				t.Fatal(err)
			}
			if seq != want {
				t.Fatalf("seq %d, want %d", seq, want)
			}
			want++
		}
		if want != workers*each+1 {
			t.Fatalf("%d rows, want %d", want-1, workers*each)
		}
		rep := verify(t, l)
		if !rep.OK || rep.Rows != workers*each || rep.LastSeq != workers*each || len(rep.Head) != HashSize {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestAUD04_EmptyLogVerifies(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		rep := verify(t, New(db))
		if !rep.OK || rep.Rows != 0 || rep.LastSeq != 0 || string(rep.Head) != string(Genesis()) {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestAUD04_FirstRowStartsAtGenesis(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		fill(t, New(db), 2)
		var prev []byte
		if err := db.Read.QueryRow(`SELECT prev_hash FROM audit_log WHERE seq = 1`).Scan(&prev); err != nil {
			t.Fatal(err)
		}
		if len(prev) != 32 || string(prev) != string(make([]byte, 32)) {
			t.Fatalf("prev_hash of row 1 = %x", prev)
		}
	})
}

func TestAUD04_AppendFollowsCallerTx(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		l := New(db)
		fill(t, l, 3)
		// Rolled back with the business change: no row.
		tx, err := db.Write.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		seq, err := Append(ctx, tx, db.Dialect, event(4))
		if err != nil || seq != 4 {
			t.Fatalf("append = %d, %v", seq, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db); n != 3 {
			t.Fatalf("%d rows after rollback, want 3", n)
		}
		// Through InTx, failing after the append: no row either.
		boom := fmt.Errorf("business change failed")
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := Append(ctx, tx, db.Dialect, event(5)); err != nil {
				return err
			}
			return boom
		})
		if err != boom {
			t.Fatalf("InTx = %v", err)
		}
		if n := count(t, db); n != 3 {
			t.Fatalf("%d rows after a failed InTx, want 3", n)
		}
		// Committed: the next seq, and the chain still holds.
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			seq, err := Append(ctx, tx, db.Dialect, event(6))
			if err == nil && seq != 4 {
				err = fmt.Errorf("seq %d, want 4", seq)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, l); !rep.OK || rep.Rows != 4 {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestAUD01_InvalidEventsAreRejected(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		l := New(db)
		for _, ev := range []Event{
			{Name: "", Outcome: Success},
			{Name: "Authn Login", Outcome: Success},
			{Name: "authn_login_fail\nforged=1", Outcome: Failure},
			{Name: AuthnLoginSuccess, Outcome: ""},
			{Name: AuthnLoginSuccess, Outcome: "ok"},
		} {
			if err := l.Record(context.Background(), ev); okpay.ErrorCode(err) != okpay.EInvalid {
				t.Errorf("Record(%q, %q) = %v, want %s", ev.Name, ev.Outcome, err, okpay.EInvalid)
			}
		}
		if n := count(t, db); n != 0 {
			t.Fatalf("%d rows, want 0", n)
		}
	})
}

func TestAUD01_ListNewestFirstAndScrubbed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		l := New(db)
		fill(t, l, 9) // subjects usr_1, usr_2, usr_0, usr_1...
		at := time.Date(2026, 3, 2, 8, 30, 0, 123456789, time.FixedZone("CET", 3600))
		err := l.Record(ctx, Event{
			At: at, Name: AuthnPasswordChange, Actor: "usr_1", Subject: "usr_1",
			IP: "198.51.100.1", DeviceID: "dev\x1b[2J", RequestID: "req\r\nforged_line", Outcome: Success,
			CaseID: "case_7", Reason: "user asked\nfake=entry",
			Details: map[string]string{
				"new_password": "hunter2hunter2", "otp": "123456", "card": "4111 1111 1111 1111",
				"note": "line1\nline2", "Session-Token": "abcdef",
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.List(ctx, "usr_1", 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Seq != 10 || got[1].Seq != 7 {
			t.Fatalf("list = %+v", got)
		}
		e := got[0]
		if !e.At.Equal(at.Truncate(time.Microsecond)) || e.At.Location() != time.UTC {
			t.Errorf("at = %v, want %v in UTC", e.At, at)
		}
		if e.Name != AuthnPasswordChange || e.Outcome != Success || e.CaseID != "case_7" || e.IP != "198.51.100.1" {
			t.Errorf("entry = %+v", e)
		}
		if e.DeviceID != `dev\x1b[2J` || e.RequestID != `req\r\nforged_line` || e.Reason != `user asked\nfake=entry` {
			t.Errorf("fields not escaped: %q %q %q", e.DeviceID, e.RequestID, e.Reason)
		}
		want := map[string]string{
			"new_password": Redacted, "otp": Redacted, "card": "••••1111", "note": `line1\nline2`, "Session-Token": Redacted,
		}
		if fmt.Sprint(e.Details) != fmt.Sprint(want) {
			t.Errorf("details = %v, want %v", e.Details, want)
		}
		// Nothing secret reached the table.
		var dump string
		if err := db.Read.QueryRow(`SELECT details || reason || request_id || device_id FROM audit_log WHERE seq = 10`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"hunter2", "123456", "4111 1111", "abcdef", "\n", "\r", "\x1b"} {
			if strings.Contains(dump, s) {
				t.Errorf("stored row contains %q: %q", s, dump)
			}
		}
		// Paging.
		got, err = l.List(ctx, "usr_1", 0, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 1 {
			t.Fatalf("page 2 = %+v", got)
		}
		if got, _ := l.List(ctx, "usr_404", 10, 0); len(got) != 0 {
			t.Fatalf("unknown subject: %+v", got)
		}
		if rep := verify(t, l); !rep.OK {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestAUD04_AppendOnlyForTheApp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		fill(t, New(db), 3)
		stmts := []string{
			`UPDATE audit_log SET reason = 'x' WHERE seq = 2`,
			`UPDATE audit_log SET hash = prev_hash`,
			`DELETE FROM audit_log WHERE seq = 3`,
			`DELETE FROM audit_log`,
		}
		if db.Dialect == sqldb.Postgres {
			stmts = append(stmts, `TRUNCATE audit_log`)
		}
		for _, q := range stmts {
			_, err := db.Write.Exec(q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want append-only", q, err)
			}
		}
		if n := count(t, db); n != 3 {
			t.Fatalf("%d rows, want 3", n)
		}
	})
}

// tamper runs stmts with the append-only triggers off, as someone with
// direct access to the database could, and turns them back on.
func tamper(t *testing.T, db *sqldb.DB, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	switch db.Dialect {
	case sqldb.SQLite:
		rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'`)
		if err != nil {
			t.Fatal(err)
		}
		var names, defs []string
		for rows.Next() {
			var n, d string
			if err := rows.Scan(&n, &d); err != nil {
				t.Fatal(err)
			}
			names, defs = append(names, n), append(defs, d)
		}
		rows.Close()
		if len(names) != 2 {
			t.Fatalf("triggers on audit_log: %v", names)
		}
		for _, n := range names {
			exec(`DROP TRIGGER ` + n)
		}
		for _, q := range stmts {
			exec(q)
		}
		for _, d := range defs {
			exec(d)
		}
	case sqldb.Postgres:
		exec(`ALTER TABLE audit_log DISABLE TRIGGER USER`)
		for _, q := range stmts {
			exec(q)
		}
		exec(`ALTER TABLE audit_log ENABLE TRIGGER USER`)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func expectBroken(t *testing.T, l *Log, at int64, problem string) {
	t.Helper()
	rep := verify(t, l)
	if rep.OK || rep.BrokenAt != at || !strings.Contains(rep.Problem, problem) || rep.Rows != at-1 {
		t.Fatalf("report %+v, want broken at %d with %q", rep, at, problem)
	}
	if rep.LastSeq != at-1 {
		t.Fatalf("LastSeq %d, want %d", rep.LastSeq, at-1)
	}
}

func TestREL13_EditedRowIsDetected(t *testing.T) {
	for _, c := range []struct {
		name, set string
	}{
		{"reason", `reason = 'nothing to see'`},
		{"at", `at = at + 1`},
		{"event", `event = 'authn_login_success'`},
		{"outcome", `outcome = 'success'`},
		{"subject", `subject = 'usr_9'`},
		{"details value", `details = '{"attempt":"1","method":"passkey"}'`},
		{"details extra key", `details = '{"attempt":"17","method":"password","x":"y"}'`},
		{"details garbage", `details = 'not json'`},
		{"hash", `hash = prev_hash`},
	} {
		t.Run(c.name, func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
				l := New(db)
				l.batch = 4
				fill(t, l, 30)
				tamper(t, db, `UPDATE audit_log SET `+c.set+` WHERE seq = 17`)
				expectBroken(t, l, 17, "edited")
			})
		})
	}
}

func TestREL13_EditWithRecomputedHashBreaksTheNextLink(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		l := New(db)
		fill(t, l, 10)
		// The forger rewrites row 5 and its hash, but not the rest of the
		// chain: row 6 no longer links to it.
		r, _ := readRow(t, db, 5)
		r.reason = "forged"
		r.hash = r.computeHash()
		tamper(t, db, fmt.Sprintf(`UPDATE audit_log SET reason = 'forged', hash = %s WHERE seq = 5`, blobLiteral(db, r.hash)))
		expectBroken(t, l, 6, "prev_hash does not match the hash of row 5")
	})
}

func TestREL13_DeletedRowIsDetected(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		l := New(db)
		l.batch = 3
		fill(t, l, 20)
		tamper(t, db, `DELETE FROM audit_log WHERE seq = 11`)
		expectBroken(t, l, 11, "row 11 is missing")
	})
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		l := New(db)
		fill(t, l, 5)
		tamper(t, db, `DELETE FROM audit_log WHERE seq IN (1, 2)`)
		expectBroken(t, l, 1, "rows 1 to 2 are missing")
	})
}

func TestREL13_SwappedRowsAreDetected(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		l := New(db)
		l.batch = 5
		fill(t, l, 20)
		a, araw := readRow(t, db, 8)
		b, braw := readRow(t, db, 9)
		tamper(t, db, swapStmt(db, 8, b, braw), swapStmt(db, 9, a, araw))
		expectBroken(t, l, 8, "edited, moved or forged")
	})
}

func TestREL13_ForgedAppendIsDetected(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		l := New(db)
		fill(t, l, 6)
		// A self-consistent row that does not link to the real head. No
		// trigger stops an INSERT; the chain does.
		r, err := prepare(event(7))
		if err != nil {
			t.Fatal(err)
		}
		r.seq, r.prevHash = 7, make([]byte, 32)
		r.prevHash[0] = 1
		r.hash = r.computeHash()
		_, err = db.Write.Exec(`INSERT INTO audit_log (`+columns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
			r.seq, r.at, r.name, r.actor, r.subject, r.ip, r.deviceID, r.requestID, r.outcome, r.caseID, r.reason, `{"attempt":"7","method":"password"}`, r.prevHash, r.hash)
		if err != nil {
			t.Fatal(err)
		}
		expectBroken(t, l, 7, "prev_hash does not match the hash of row 6")
	})
}

// readRow reads row seq as stored, with its details text in raw.
func readRow(t *testing.T, db *sqldb.DB, seq int64) (r *row, raw string) {
	t.Helper()
	rows, err := db.Read.Query(`SELECT `+columns+` FROM audit_log WHERE seq = $1`, seq)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no row %d", seq)
	}
	r = new(row)
	if err := scanRow(rows, r, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &r.details); err != nil {
		t.Fatal(err)
	}
	return r, raw
}

func blobLiteral(db *sqldb.DB, b []byte) string {
	if db.Dialect == sqldb.Postgres {
		return fmt.Sprintf(`'\x%x'::bytea`, b)
	}
	return fmt.Sprintf(`X'%x'`, b)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// swapStmt writes every column of r but seq into row seq.
func swapStmt(db *sqldb.DB, seq int64, r *row, details string) string {
	return fmt.Sprintf(`UPDATE audit_log SET at = %d, event = %s, actor = %s, subject = %s, ip = %s, device_id = %s,
		request_id = %s, outcome = %s, case_id = %s, reason = %s, details = %s, prev_hash = %s, hash = %s WHERE seq = %d`,
		r.at, quote(r.name), quote(r.actor), quote(r.subject), quote(r.ip), quote(r.deviceID), quote(r.requestID),
		quote(r.outcome), quote(r.caseID), quote(r.reason), quote(details), blobLiteral(db, r.prevHash), blobLiteral(db, r.hash), seq)
}

func TestAUD04_CanonicalEncodingIsUnambiguous(t *testing.T) {
	base := row{seq: 3, at: 42, name: "a", actor: "bc", details: map[string]string{"k": "v"}, prevHash: make([]byte, 32)}
	variants := []func(r *row){
		func(r *row) { r.name, r.actor = "ab", "c" },             // moved boundary
		func(r *row) { r.seq = 4 },                               // position
		func(r *row) { r.at = 43 },                               // time
		func(r *row) { r.details = map[string]string{"kv": ""} }, // detail boundary
		func(r *row) { r.details = map[string]string{"k": "v", "": ""} },
		func(r *row) { r.actor, r.subject = "", "bc" }, // moved field
		func(r *row) { r.prevHash = append(make([]byte, 31), 1) },
	}
	h0 := string(base.computeHash())
	seen := map[string]int{h0: -1}
	for i, f := range variants {
		r := base
		f(&r)
		h := string(r.computeHash())
		if j, dup := seen[h]; dup {
			t.Errorf("variant %d hashes like %d", i, j)
		}
		seen[h] = i
	}
	// Details order does not matter.
	a := base
	a.details = map[string]string{"x": "1", "y": "2", "z": "3"}
	b := a
	b.details = map[string]string{"z": "3", "y": "2", "x": "1"}
	if string(a.computeHash()) != string(b.computeHash()) {
		t.Error("details order changes the hash")
	}
}

func TestAUD04_StaleSnapshotIsRetryable(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	ctx := context.Background()
	l := New(db)
	fill(t, l, 2)
	tx, err := db.Write.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM audit_log`).Scan(&n); err != nil { // takes the snapshot
		t.Fatal(err)
	}
	fill(t, l, 1) // commits seq 3 after that snapshot
	_, err = Append(ctx, tx, db.Dialect, event(9))
	if err == nil || !sqldb.IsRetryable(err) {
		t.Fatalf("append on a stale snapshot = %v, want a retryable error", err)
	}
	tx.Rollback()
	if rep := verify(t, l); !rep.OK || rep.Rows != 3 {
		t.Fatalf("report %+v", rep)
	}
}
