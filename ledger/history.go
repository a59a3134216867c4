package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/okpay/okpay/sqldb"
)

// The per-account history index on SQLite (FindEntries). Indexing every
// posting by account as it is written costs each transfer two b-tree
// inserts at random places; instead postings are copied into the index
// in large sorted runs, and a page of history is the indexed part plus
// the postings above the index's watermark, found by scanning the tail.
//
// The index lives in a file of its own beside the database
// ("okpay.db" → "okpay-history.db"), written by its own goroutine on its
// own connection. It used to be a table of the main file, filled by the
// ledger's writer between two batches: a fifth of the writer's time, and
// SQLite has one writer per file. Now it runs beside the commits, on the
// other core, and the writer only commits. (Switched off, an upper bound:
// +12–22% transfers/s over HTTP and +30–50% in-process, okpay bench ledger
// at c=256. Moved here: +11% and +34%, medians of three alternating
// pairs; README, Speed.)
//
// It is derived data: the file needs no fsync at commit, and it is
// rebuilt from the postings when it is missing, belongs to another
// database (ledger_instance), or is ahead of the database (a restored
// copy, or a crash that lost what the index had seen). It only ever
// indexes entries whose batch is durable (Ledger.durable), so a power
// loss cannot leave it ahead of the journal.
type history struct {
	path string
	w, r *sql.DB
	log  *slog.Logger

	mu sync.Mutex // one run at a time: the indexer, IndexHistory

	stop, done chan struct{}
}

// When the indexer runs. A run writes the last leaf of every account it
// touches (keys are account, entry) to the log, and again at the
// checkpoint: under load a run every 50 ms wrote ~750 pages for ~730
// transfers, and cost more than the index saved. A run per 16,384 entries
// or per second, with a checkpoint after each, writes a page per account
// touched per run. In-process (go test -bench 'Transfers$/sqlite'
// ./ledger/, 100,000 transfers, two runs each): the index in the writer
// every 50 ms 17,996 and 17,084/s (62–65 µs of CPU a transfer); here every
// 50 ms with SQLite's autocheckpoint every 1,000 pages 14,957/s (81 µs);
// checkpointed after each run: every 250 ms 20,302 and 20,461/s (63 µs), every
// second 22,684 and 25,274/s (53–58 µs). The price: a history page scans
// the postings above the watermark, at most ~a second's worth.
const (
	// historyInterval is how often the indexer looks at what waits.
	historyInterval = 50 * time.Millisecond
	// historyBatch entries waiting start a run at once ...
	historyBatch = 16384
	// ... and fewer start one this long after the last run (at once,
	// within historyInterval, after a quiet second).
	historyMaxWait = time.Second
	// historyRows is how many rows one insert statement carries.
	historyRows = 256
)

// historyPageSize is the history file's page size, the main file's: with
// 1 KiB pages a run wrote more pages for the same rows, and each page is
// two system calls (log frame header, page), which cost more than bytes.
const historyPageSize = 4096

// historyChunk bounds the postings one run copies in a transaction
// (catching up on a large journal goes in steps). A variable for tests.
var historyChunk = 50000

const historySchema = `
CREATE TABLE IF NOT EXISTS account_history (
    account_id INTEGER NOT NULL,
    entry_id   INTEGER NOT NULL,
    PRIMARY KEY (account_id, entry_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    instance TEXT NOT NULL,
    entry_id INTEGER NOT NULL
);`

// HistoryPath is the history index's file for the SQLite database at
// path: "okpay.db" → "okpay-history.db".
func HistoryPath(path string) string {
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	return filepath.Join(dir, strings.TrimSuffix(base, ext)+"-history"+ext)
}

// openHistory opens the history index of db, whose last entry is
// lastEntry, and starts it over when it does not match db. behind reports
// whether entries wait to be indexed (a new or emptied file, or the tail
// the last run left).
func openHistory(ctx context.Context, db *sqldb.DB, lastEntry int64, log *slog.Logger) (h *history, behind bool, err error) {
	var instance string
	if err := db.Read.QueryRowContext(ctx, `SELECT token FROM ledger_instance WHERE id = 1`).Scan(&instance); err != nil {
		return nil, false, fmt.Errorf("ledger: read the database's instance: %w", err)
	}
	h = &history{path: HistoryPath(db.Path), log: log, stop: make(chan struct{}), done: make(chan struct{})}
	if h.w, h.r, err = sqldb.OpenSQLiteSide(ctx, h.path, historyPageSize, 0); err != nil {
		return nil, false, fmt.Errorf("ledger: history index: %w", err)
	}
	mark, err := h.check(ctx, instance, lastEntry)
	if err != nil {
		h.w.Close()
		h.r.Close()
		return nil, false, fmt.Errorf("ledger: history index %s: %w", h.path, err)
	}
	return h, mark < lastEntry, nil
}

// check creates the schema, empties the index when it belongs to another
// database or is ahead of this one, and returns its watermark.
func (h *history) check(ctx context.Context, instance string, lastEntry int64) (int64, error) {
	if _, err := h.w.ExecContext(ctx, historySchema); err != nil {
		return 0, err
	}
	var have string
	var mark int64
	err := h.w.QueryRowContext(ctx, `SELECT instance, entry_id FROM history_state WHERE id = 1`).Scan(&have, &mark)
	switch {
	case err == nil && have == instance && mark <= lastEntry:
		return mark, nil
	case err == nil:
		h.log.Warn("ledger: the history index does not match the database; rebuilding it",
			"file", h.path, "indexed_up_to", mark, "last_entry", lastEntry, "same_database", have == instance)
	case !errors.Is(err, sql.ErrNoRows):
		return 0, err
	}
	tx, err := h.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM account_history`); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO history_state(id, instance, entry_id) VALUES (1, $1, 0)`, instance); err != nil {
		return 0, err
	}
	return 0, tx.Commit()
}

// indexer brings the index up to date once historyBatch entries are
// waiting, or some are historyMaxWait after the last run, until close.
func (l *Ledger) indexer(ctx context.Context) {
	h := l.hist
	defer close(h.done)
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("ledger", "history")))
	t := time.NewTicker(historyInterval)
	defer t.Stop()
	last := time.Now()
	failing := false // the last run failed (logged once)
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		waiting := l.unindexed.Load()
		if waiting == 0 || waiting < historyBatch && time.Since(last) < historyMaxWait {
			continue
		}
		l.unindexed.Add(-waiting)
		last = time.Now()
		err := l.indexHistory(ctx)
		if err == nil {
			err = sqldb.CheckpointSide(ctx, h.w)
		}
		switch {
		case err != nil && !failing:
			l.log.Warn("ledger: indexing account history failed; will retry", "err", err)
		case err == nil && failing:
			l.log.Info("ledger: indexing account history works again")
		}
		failing = err != nil
		if err != nil {
			l.unindexed.Add(waiting) // try again at the next tick
		}
	}
}

// close stops the indexer and closes the file.
func (h *history) close() {
	close(h.stop)
	<-h.done
	h.w.Close()
	h.r.Close()
}

// IndexHistory brings the per-account history index up to date with
// every acknowledged entry (SQLite; on PostgreSQL postings are indexed as
// they are written). The ledger does it by itself; tests and tools call
// it to force it.
func (l *Ledger) IndexHistory(ctx context.Context) error {
	if l.hist == nil {
		return nil
	}
	return l.indexHistory(ctx)
}

// indexHistory copies the postings of durable entries above the
// watermark into the index, sorted, and moves the watermark, in steps of
// historyChunk postings.
func (l *Ledger) indexHistory(ctx context.Context) error {
	h := l.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	var rows []histRow
	for {
		var from int64
		if err := h.w.QueryRowContext(ctx, `SELECT entry_id FROM history_state WHERE id = 1`).Scan(&from); err != nil {
			return err
		}
		to := l.durable.Load()
		if to <= from {
			return nil
		}
		q, err := l.db.Read.QueryContext(ctx, `SELECT entry_id, debit_account, credit_account FROM postings
			WHERE entry_id > $1 AND entry_id <= $2 ORDER BY entry_id, seq LIMIT $3`, from, to, historyChunk)
		if err != nil {
			return err
		}
		rows = rows[:0]
		n, last, upTo := 0, int64(0), to
		for q.Next() {
			var e, d, c int64
			if err := q.Scan(&e, &d, &c); err != nil {
				q.Close()
				return err
			}
			n++
			last = e
			rows = append(rows, histRow{d, e}, histRow{c, e})
		}
		q.Close()
		if err := q.Err(); err != nil {
			return err
		}
		if n == historyChunk {
			// The chunk may end inside an entry: leave its postings for
			// the next step.
			upTo = last - 1
			for len(rows) > 0 && rows[len(rows)-1].entry == last {
				rows = rows[:len(rows)-1]
			}
			if upTo <= from { // one entry with more postings than a chunk
				return fmt.Errorf("entry %d has more than %d postings", last, historyChunk)
			}
		}
		slices.SortFunc(rows, func(a, b histRow) int {
			return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.entry, b.entry))
		})
		rows = slices.Compact(rows)
		if err := h.write(ctx, rows, from, upTo); err != nil {
			return err
		}
	}
}

// histRow is one row of the index.
type histRow struct{ account, entry int64 }

// write inserts rows and moves the watermark from → to, in one
// transaction. The watermark only moves from where this run read it:
// another process indexing the same file meanwhile (okpay ledger verify
// beside a server) makes this run a no-op.
func (h *history) write(ctx context.Context, rows []histRow, from, to int64) error {
	tx, err := h.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE history_state SET entry_id = $1 WHERE id = 1 AND entry_id = $2`, to, from)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return err
	}
	var full *sql.Stmt
	args := make([]any, 0, 2*historyRows)
	for len(rows) > 0 {
		k := min(len(rows), historyRows)
		args = args[:0]
		for _, r := range rows[:k] {
			args = append(args, r.account, r.entry)
		}
		if k == historyRows {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, historyInsert(historyRows)); err != nil {
					return err
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, historyInsert(k), args...)
		}
		if err != nil {
			return err
		}
		rows = rows[k:]
	}
	return tx.Commit()
}

// historyInsert is the insert of n rows.
func historyInsert(n int) string {
	b := []byte("INSERT OR IGNORE INTO account_history(account_id, entry_id) VALUES ")
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		// Anonymous parameters: SQLite finds a numbered one ($n) by
		// walking the list of names, which made binding a run's rows
		// quadratic (an eighth of the indexer's time).
		b = append(b, "(?, ?)"...)
	}
	return string(b)
}

// indexedBefore returns, in one snapshot of the index, its watermark and
// up to limit entry ids of account below before, newest first.
func (h *history) indexedBefore(ctx context.Context, account, before int64, limit int) (int64, []int64, error) {
	tx, err := h.r.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	var mark int64
	if err := tx.QueryRowContext(ctx, `SELECT entry_id FROM history_state WHERE id = 1`).Scan(&mark); err != nil {
		return 0, nil, err
	}
	ids, err := entryIDs(ctx, tx, `SELECT entry_id FROM account_history WHERE account_id = $1 AND entry_id < $2
		ORDER BY entry_id DESC LIMIT $3`, account, min(before, mark+1), limit)
	if err != nil {
		return 0, nil, err
	}
	return mark, ids, tx.Commit()
}

// verify compares the index with the postings of tx (the verifier's
// snapshot of the journal) up to the index's watermark, or to the last
// entry tx sees if that is lower (entry ids grow in commit order, so tx
// sees every entry up to it), and describes up to maxReported
// differences.
func (h *history) verify(ctx context.Context, tx *sql.Tx) ([]string, error) {
	htx, err := h.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer htx.Rollback()
	var mark, seen int64
	if err := htx.QueryRowContext(ctx, `SELECT entry_id FROM history_state WHERE id = 1`).Scan(&mark); err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM journal_entries`).Scan(&seen); err != nil {
		return nil, err
	}
	upTo := min(mark, seen)
	indexed, err := htx.QueryContext(ctx, `SELECT account_id, entry_id FROM account_history WHERE entry_id <= $1 ORDER BY account_id, entry_id`, upTo)
	if err != nil {
		return nil, err
	}
	defer indexed.Close()
	posted, err := tx.QueryContext(ctx, `
		SELECT debit_account AS account_id, entry_id FROM postings WHERE entry_id <= $1
		UNION
		SELECT credit_account, entry_id FROM postings WHERE entry_id <= $1
		ORDER BY 1, 2`, upTo)
	if err != nil {
		return nil, err
	}
	defer posted.Close()
	next := func(rows *sql.Rows) (histRow, bool, error) {
		if !rows.Next() {
			return histRow{}, false, rows.Err()
		}
		var r histRow
		err := rows.Scan(&r.account, &r.entry)
		return r, err == nil, err
	}
	var out []string
	i, iok, err := next(indexed)
	if err != nil {
		return nil, err
	}
	p, pok, err := next(posted)
	if err != nil {
		return nil, err
	}
	for (iok || pok) && len(out) <= maxReported {
		switch c := cmp.Or(cmp.Compare(i.account, p.account), cmp.Compare(i.entry, p.entry)); {
		case iok && pok && c == 0:
			if i, iok, err = next(indexed); err != nil {
				return nil, err
			}
			if p, pok, err = next(posted); err != nil {
				return nil, err
			}
		case iok && (!pok || c < 0):
			out = append(out, fmt.Sprintf("entry %d is indexed under account %d, which none of its postings moves", i.entry, i.account))
			if i, iok, err = next(indexed); err != nil {
				return nil, err
			}
		default:
			out = append(out, fmt.Sprintf("entry %d moves account %d and is missing from its index", p.entry, p.account))
			if p, pok, err = next(posted); err != nil {
				return nil, err
			}
		}
	}
	if len(out) > maxReported {
		out = append(out[:maxReported], "(more not shown)")
	}
	return out, nil
}

// entryIDs runs a query of one integer column.
func entryIDs(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
