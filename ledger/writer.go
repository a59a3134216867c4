package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
)

// acctState is what a batch needs to know of an account.
type acctState struct {
	id       int64
	currency money.Currency
	kind     Kind
	flags    Flags
	bal      Balance
	version  int64
	touched  bool
}

// maxCache bounds the SQLite balance cache; past it the cache starts over.
const maxCache = 1 << 20

// maxAttempts bounds the retries of a batch after transient conflicts.
const maxAttempts = 6

// writer is one committer: it takes what is queued, up to MaxBatch
// requests, and commits them together. Under light load batches hold one
// request; as load grows, requests queue up during a commit and the next
// batch takes them all.
func (l *Ledger) writer(ctx context.Context) {
	defer l.writers.Done()
	// Labelled for CPU profiles (go tool pprof -tagfocus ledger=writer).
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("ledger", "writer")))
	cache := newStmtCache(l.sql)
	defer cache.close()
	defer cache.unpin()
	if err := cache.prepare(ctx, l.db.Write, l.sql.lockSuffix); err != nil {
		l.log.Error("ledger: preparing statements failed; running unprepared", "err", err)
	}
	batch := make([]*request, 0, l.max)
	for {
		var first *request
		select {
		case first = <-l.queue:
		case <-l.closed:
			// Drain what is queued, then stop.
			select {
			case first = <-l.queue:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < l.max {
			select {
			case r := <-l.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.commit(context.WithoutCancel(ctx), cache, batch)
		clear(batch)
		if len(cache.late) > 0 {
			cache.prepareLate(context.WithoutCancel(ctx), l.db.Write)
		}
	}
}

// commit applies reqs in one transaction and answers each of them.
func (l *Ledger) commit(ctx context.Context, sc *stmtCache, reqs []*request) {
	for attempt := 1; ; attempt++ {
		start := time.Now()
		careful := sc.careful > 0
		if careful {
			sc.careful--
		}
		b, err := l.tryBatch(ctx, sc, reqs, careful)
		if err == nil {
			l.metrics.observeBatch(len(reqs), time.Since(start))
			if l.db.Dialect == sqldb.SQLite {
				l.cacheMu.Lock()
				if len(l.cache) > maxCache {
					clear(l.cache)
				}
				for id, a := range b.accts {
					a.touched = false
					l.cache[id] = a
				}
				l.cacheMu.Unlock()
			}
			for i, r := range reqs {
				r.out, r.err = b.outs[i], b.errs[i]
			}
			var last int64 // entry ids grow from batch to batch
			for _, e := range b.newEnts {
				last = max(last, e.ID)
			}
			if b.async {
				// Acknowledged once the log is flushed; meanwhile this
				// writer goes on with the next batch.
				l.syncq <- synced{reqs: slices.Clone(reqs), last: last, n: len(b.newEnts)}
				return
			}
			l.markDurable(last, len(b.newEnts))
			for _, r := range reqs {
				close(r.done)
			}
			return
		}
		// Whatever the batch saw of balances may be stale now; after an
		// unexpected error the connection may be broken too.
		l.dropCache()
		if !sqldb.IsUniqueViolation(err) && !sqldb.IsRetryable(err) {
			sc.unpin()
		}
		if sqldb.IsUniqueViolation(err) && !careful {
			// A retried reference or Idempotency-Key: run the batch again,
			// looking them up first, and keep looking for a while (retries
			// come in bursts, e.g. after a restart).
			sc.careful = carefulBatches
			continue
		}
		transient := sqldb.IsRetryable(err) || sqldb.IsUniqueViolation(err)
		if transient && attempt < maxAttempts {
			l.metrics.retries.Inc()
			time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(2*time.Millisecond))))
			continue
		}
		if len(reqs) > 1 {
			// Something in the batch fails in the database itself: commit
			// each request alone, so one bad request cannot fail the rest.
			l.log.Warn("ledger batch failed; committing its requests one by one", "size", len(reqs), "err", err)
			for _, r := range reqs {
				l.commit(ctx, sc, []*request{r})
			}
			return
		}
		l.log.Error("ledger commit failed", "err", err, "reference", reqs[0].reference())
		code := okpay.EInternal
		if transient {
			code = okpay.EUnavailable
		}
		reqs[0].finish(Outcome{}, &okpay.Error{Code: code, Message: "the ledger could not commit this request; retry it with the same idempotency key"})
		return
	}
}

// syncer acknowledges batches committed without the log's flush (every
// batch on SQLite, batches of pgAsyncBatch requests or more on PostgreSQL)
// after making them durable (sqldb.SyncWAL), one flush for every batch
// committed since the last one.
func (l *Ledger) syncer() {
	defer close(l.syncDone)
	for group := range l.syncq {
		reqs, last, n := group.reqs, group.last, group.n
	drain:
		for {
			select {
			case more, ok := <-l.syncq:
				if !ok {
					break drain
				}
				reqs = append(reqs, more.reqs...)
				last, n = max(last, more.last), n+more.n
			default:
				break drain
			}
		}
		if err := l.db.SyncWAL(); err != nil {
			// The commits happened but may not survive a power loss:
			// say so; a retry with the same key replays the result.
			l.log.Error("ledger: fsync of the WAL failed", "err", err)
			for _, r := range reqs {
				r.out, r.err = Outcome{}, &okpay.Error{Code: okpay.EUnavailable, Message: "the ledger could not make this request durable; retry it with the same idempotency key"}
			}
		} else {
			l.markDurable(last, n)
		}
		for _, r := range reqs {
			close(r.done)
		}
	}
}

// synced is a committed batch waiting for the log's flush: its requests,
// its last entry id (0: none) and its number of new entries.
type synced struct {
	reqs []*request
	last int64
	n    int
}

// markDurable records that the entries up to id, n new ones, are durable
// (before their requests are answered: a caller that got its answer may
// index it).
func (l *Ledger) markDurable(id int64, n int) {
	if l.hist != nil {
		l.unindexed.Add(int64(n))
	}
	for {
		cur := l.durable.Load()
		if id <= cur || l.durable.CompareAndSwap(cur, id) {
			return
		}
	}
}

func (l *Ledger) dropCache() {
	l.cacheMu.Lock()
	clear(l.cache)
	l.cacheMu.Unlock()
}

// batch is the state of one transaction of the commit queue.
type batch struct {
	l    *Ledger
	sc   *stmtCache
	tx   *sql.Tx
	ctx  context.Context
	now  time.Time
	reqs []*request
	outs []Outcome
	errs []error

	accts map[int64]*acctState

	storedIdem map[string]*Response // principal\x00key → stored response
	idemHash   map[string][]byte
	batchIdem  map[string]bool

	existingRef map[string]refInfo // reference → stored entry
	batchRef    map[string]int     // reference → index of the request that made it here

	targets  map[int64]*target // pending or reversed entries
	newEnts  []*Entry
	hashes   [][32]byte
	idemRows []idemRow

	deltas []delta

	careful bool // look references and keys up before writing
	async   bool // committed without waiting for the log's flush (see syncer)

	presetID int64 // the id a hooked request's entry gets (0: none)

	// Hooks' deferred inserts (hooktx.go): by statement, in first-use
	// order, with the lengths before the running hook and the first
	// misuse.
	htx        Tx
	staged     map[stagedKey]*staged
	stagedList []*staged
	stageMark  []int
	stageErr   error
	savepoint  bool // the running hook's savepoint is open

	// Hooks' batch values (Tx.Value), with what the running hook replaced,
	// restored if its request fails.
	vals    map[any]any
	valUndo []valUndo
}

// newID returns the id of the entry being decided: the one its hook was
// told, or a fresh one.
func (b *batch) newID() int64 {
	if id := b.presetID; id != 0 {
		b.presetID = 0
		return id
	}
	return b.l.entryID()
}

type refInfo struct {
	id   int64
	hash []byte
}

type target struct {
	entry    *Entry
	resolved Phase         // how it was resolved (post, void, expire); "" if not
	reversed map[int]int64 // seq → amount already reversed
}

type idemRow struct {
	principal, key string
	hash           []byte
	status         int
	body           []byte
}

type delta struct {
	a                *acctState
	pd, pc, pnd, pnc int64
	debited          bool
}

// pgAsyncBatch is the smallest PostgreSQL batch committed without waiting
// for the log's flush.
const pgAsyncBatch = 2

// carefulBatches is how many batches look references and keys up before
// writing, after a batch failed on a duplicate.
const carefulBatches = 64

// tryBatch applies reqs in one transaction. Unless careful, it does not
// look up whether references and Idempotency-Keys were used before: new
// ones are the rule, and the unique indexes catch the rest (the batch
// then fails and commit runs it again, carefully).
func (l *Ledger) tryBatch(ctx context.Context, sc *stmtCache, reqs []*request, careful bool) (*batch, error) {
	var tx *sql.Tx
	var err error
	// SQLite commits every batch without the log's fsync; the syncer
	// acknowledges it.
	async := l.db.Dialect == sqldb.SQLite
	if async {
		// SQLite: pin the connection, commit without fsync (the syncer
		// fsyncs before anyone is answered), and leave the connection as
		// it was (synchronous=FULL) for every other writer.
		conn, err := l.db.Write.Conn(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
			return nil, err
		}
		defer conn.ExecContext(ctx, "PRAGMA synchronous = FULL")
		tx, err = conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
	} else {
		// PostgreSQL: each writer keeps one connection, so the driver's
		// prepared-statement cache stays warm (a pool hands out its
		// connections in turn, and every one would prepare every
		// statement again).
		if sc.pin == nil {
			if sc.pin, err = l.db.Write.Conn(ctx); err != nil {
				return nil, err
			}
		}
		tx, err = sc.pin.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		// A batch of several requests commits without waiting for the
		// log's flush, and the syncer flushes before anyone is answered,
		// as on SQLite: the next batch runs during the flush. A lone
		// request commits durably and is answered at once (the syncer's
		// flush would be one more round trip).
		if len(reqs) >= pgAsyncBatch {
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
				tx.Rollback()
				return nil, err
			}
			async = true
		}
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	b := &batch{
		l: l, sc: sc, tx: tx, ctx: ctx, now: l.clock.Now().UTC().Truncate(time.Microsecond), reqs: reqs,
		outs:        make([]Outcome, len(reqs)),
		errs:        make([]error, len(reqs)),
		accts:       make(map[int64]*acctState),
		batchRef:    make(map[string]int, len(reqs)),
		existingRef: map[string]refInfo{},
		targets:     map[int64]*target{},
		careful:     careful,
		async:       async,
	}
	b.htx.b = b
	if err := b.load(); err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if err := b.apply(i, r); err != nil {
			return nil, err
		}
	}
	if !careful {
		if err := b.recheckFailures(); err != nil {
			return nil, err
		}
	}
	if err := b.loadExisting(); err != nil {
		return nil, err
	}
	b.render()
	if err := b.write(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	committed = true
	return b, nil
}

// load reads, in the transaction, everything the batch's requests refer to.
func (b *batch) load() error {
	// 1. Stored idempotency records.
	var keys []any
	for _, r := range b.reqs {
		if r.idem != nil {
			keys = append(keys, r.idem.Key)
		}
	}
	if len(keys) > 0 {
		b.storedIdem = map[string]*Response{}
		b.idemHash = map[string][]byte{}
		b.batchIdem = map[string]bool{}
	}
	if len(keys) > 0 && (b.careful || b.fromEntry()) {
		// FromEntry successes store no record whose unique index would
		// catch a key used before: look the keys up.
		if err := b.readIdem(keys); err != nil {
			return err
		}
	}
	// 2. Existing references.
	if b.careful {
		refs := make([]any, 0, len(b.reqs))
		for _, r := range b.reqs {
			refs = append(refs, r.reference())
		}
		if err := b.readRefs(refs); err != nil {
			return err
		}
	}
	// 3. Pending entries to resolve and entries to reverse.
	var tids []int64
	for _, r := range b.reqs {
		if r.op.Resolve != nil {
			tids = append(tids, r.op.Resolve.PendingID)
		} else if r.op.Reverse != nil {
			tids = append(tids, r.op.Reverse.EntryID)
		} else if r.expireID != 0 {
			tids = append(tids, r.expireID)
		}
	}
	if len(tids) > 0 {
		slices.Sort(tids)
		tids = slices.Compact(tids)
		if err := b.loadTargets(tids); err != nil {
			return err
		}
	}
	// 4. Accounts and balances.
	var aids []int64
	for _, r := range b.reqs {
		switch {
		case r.op.Entry != nil:
			for _, p := range r.op.Entry.Postings {
				aids = append(aids, p.Debit, p.Credit)
			}
		case r.op.Resolve != nil:
			if t := b.targets[r.op.Resolve.PendingID]; t != nil {
				for _, p := range t.entry.Postings {
					aids = append(aids, p.Debit, p.Credit)
				}
			}
		case r.op.Reverse != nil:
			if t := b.targets[r.op.Reverse.EntryID]; t != nil {
				for _, p := range t.entry.Postings {
					aids = append(aids, p.Debit, p.Credit)
				}
			}
		case r.expireID != 0:
			if t := b.targets[r.expireID]; t != nil {
				for _, p := range t.entry.Postings {
					aids = append(aids, p.Debit, p.Credit)
				}
			}
		}
	}
	return b.loadAccounts(aids)
}

// fromEntry reports whether a request of the batch has Idem.FromEntry.
func (b *batch) fromEntry() bool {
	for _, r := range b.reqs {
		if r.idem != nil && r.idem.FromEntry {
			return true
		}
	}
	return false
}

func (b *batch) loadTargets(tids []int64) error {
	args := make([]any, len(tids))
	for i, id := range tids {
		args[i] = id
	}
	if b.l.db.Dialect == sqldb.Postgres {
		// Serialise resolutions and reversals of one entry across writers
		// and nodes; sorted, and always taken before row locks.
		for _, id := range tids {
			if _, err := b.tx.ExecContext(b.ctx, `SELECT pg_advisory_xact_lock($1)`, id); err != nil {
				return err
			}
		}
	}
	ents, err := loadEntries(b.ctx, b.tx, b.sc, tids)
	if err != nil {
		return err
	}
	for _, e := range ents {
		b.targets[e.ID] = &target{entry: e, reversed: map[int]int64{}}
	}
	rows, err := b.tx.QueryContext(b.ctx, b.sc.inList(`SELECT pending_id, phase FROM journal_entries WHERE pending_id IN (?)`, len(args)), args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var phase Phase
		if err := rows.Scan(&id, &phase); err != nil {
			rows.Close()
			return err
		}
		if t := b.targets[id]; t != nil {
			t.resolved = phase
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = b.tx.QueryContext(b.ctx, b.sc.inList(`SELECT e.reverses_id, p.seq, p.amount FROM journal_entries e JOIN postings p ON p.entry_id = e.id WHERE e.reverses_id IN (?)`, len(args)), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, amount int64
		var seq int
		if err := rows.Scan(&id, &seq, &amount); err != nil {
			return err
		}
		if t := b.targets[id]; t != nil {
			t.reversed[seq] += amount
		}
	}
	return rows.Err()
}

func (b *batch) loadAccounts(aids []int64) error {
	if len(aids) == 0 {
		return nil
	}
	slices.Sort(aids)
	aids = slices.Compact(aids)
	var need []any
	if b.l.db.Dialect == sqldb.SQLite {
		b.l.cacheMu.Lock()
		for _, id := range aids {
			if a, ok := b.l.cache[id]; ok {
				c := *a
				b.accts[id] = &c
			} else {
				need = append(need, id)
			}
		}
		b.l.cacheMu.Unlock()
	} else {
		need = make([]any, len(aids))
		for i, id := range aids {
			need[i] = id
		}
	}
	if len(need) == 0 {
		return nil
	}
	rows, err := b.sc.query(b.ctx, b.tx, qAccounts+b.l.sql.lockSuffix, need)
	if err != nil {
		return fmt.Errorf("read balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a := &acctState{}
		var cur, kind string
		if err := rows.Scan(&a.id, &cur, &kind, &a.flags, &a.bal.PostedDebits, &a.bal.PostedCredits, &a.bal.PendingDebits, &a.bal.PendingCredits, &a.version); err != nil {
			return err
		}
		a.currency, a.kind = money.Currency(cur), Kind(kind)
		b.accts[a.id] = a
	}
	return rows.Err()
}

// apply decides request i against the batch's state, in memory (and runs
// its hook, if any, in the transaction). An error fails the batch.
func (b *batch) apply(i int, r *request) error {
	if b.storedResponse(i, r) {
		return nil
	}
	if r.idem != nil {
		k := r.idem.Principal + "\x00" + r.idem.Key
		if b.batchIdem[k] {
			b.errs[i] = okpay.Errorf(EIdempotencyInFlight, "a request with this idempotency key is still in progress")
			return nil
		}
		b.batchIdem[k] = true
	}
	if b.existingEntry(i, r) {
		return nil
	}
	ref := r.reference()
	if j, ok := b.batchRef[ref]; ok {
		if b.hashes[j] != r.hash {
			b.errs[i] = okpay.Errorf(EReferenceConflict, "reference %q was already used for a different entry", ref)
			return nil
		}
		b.outs[i] = Outcome{Existing: true, Entry: b.newEnts[j]}
		return nil
	}
	hooked := r.op.Hook != nil || r.op.TxHook != nil
	if hooked {
		done, err := b.runHook(i, r)
		if err != nil || done {
			return err
		}
	}
	var e *Entry
	var err error
	switch {
	case r.op.Entry != nil:
		e, err = b.applyEntry(r.op.Entry)
	case r.op.Resolve != nil:
		e, err = b.applyResolve(r.op.Resolve, false)
	case r.op.Reverse != nil:
		e, err = b.applyReverse(r.op.Reverse)
	default:
		e, err = b.applyResolve(&ResolveInput{Reference: ref, PendingID: r.expireID, Void: true}, true)
	}
	if hooked {
		if err := b.endHook(err != nil); err != nil {
			return err
		}
	}
	if err != nil {
		b.errs[i] = err
		return nil
	}
	e.Reference = ref
	b.batchRef[ref] = len(b.newEnts)
	b.newEnts = append(b.newEnts, e)
	b.hashes = append(b.hashes, r.hash)
	b.outs[i] = Outcome{Entry: e}
	return nil
}

// runHook runs request i's hook in a savepoint, with the entry id the
// request will get. done means the hook refused the request (its writes
// are rolled back, its deferred rows dropped, and b.errs[i] says why). A
// TxHook's savepoint opens when it first asks for the transaction: one
// that only defers rows needs none.
func (b *batch) runHook(i int, r *request) (done bool, err error) {
	b.savepoint = false
	b.markStaged()
	b.presetID = b.l.entryID()
	var herr error
	if r.op.TxHook != nil {
		herr = r.op.TxHook(b.ctx, &b.htx, b.presetID)
		if b.stageErr != nil {
			return false, b.stageErr
		}
	} else {
		if err := b.openSavepoint(); err != nil {
			return false, err
		}
		herr = r.op.Hook(b.ctx, b.tx, b.presetID)
	}
	if herr == nil {
		return false, nil
	}
	b.presetID = 0
	if code := okpay.ErrorCode(herr); code == okpay.EInternal {
		return false, fmt.Errorf("ledger: hook of %q: %w", r.reference(), herr)
	}
	if err := b.endHook(true); err != nil {
		return false, err
	}
	b.errs[i] = herr
	return true, nil
}

// openSavepoint opens the running hook's savepoint.
func (b *batch) openSavepoint() error {
	if err := b.sc.exec(b.ctx, b.tx, qSavepoint, nil); err != nil {
		return fmt.Errorf("ledger: savepoint: %w", err)
	}
	b.savepoint = true
	return nil
}

// endHook closes the hook's savepoint, if it opened one, rolling its
// writes back (and dropping its deferred rows) first when the request
// failed.
func (b *batch) endHook(failed bool) error {
	b.presetID = 0
	if failed {
		b.dropStaged()
	}
	if !b.savepoint {
		return nil
	}
	b.savepoint = false
	if failed {
		if err := b.sc.exec(b.ctx, b.tx, qRollbackTo, nil); err != nil {
			return fmt.Errorf("ledger: rollback to savepoint: %w", err)
		}
	}
	if err := b.sc.exec(b.ctx, b.tx, qRelease, nil); err != nil {
		return fmt.Errorf("ledger: release savepoint: %w", err)
	}
	return nil
}

// delta returns the index in b.deltas of a's delta, adding one if needed.
// (An index, not a pointer: appending may move the slice.)
func (b *batch) delta(a *acctState) int {
	for i := range b.deltas {
		if b.deltas[i].a == a {
			return i
		}
	}
	b.deltas = append(b.deltas, delta{a: a})
	return len(b.deltas) - 1
}

// pair returns the deltas of a posting's two accounts, checking that both
// exist and hold its currency.
func (b *batch) pair(debit, credit int64, cur money.Currency) (*delta, *delta, error) {
	d, err := b.account(debit, cur)
	if err != nil {
		return nil, nil, err
	}
	c, err := b.account(credit, cur)
	if err != nil {
		return nil, nil, err
	}
	di, ci := b.delta(d), b.delta(c)
	return &b.deltas[di], &b.deltas[ci], nil
}

func (b *batch) account(id int64, cur money.Currency) (*acctState, error) {
	a := b.accts[id]
	if a == nil {
		return nil, okpay.Errorf(EAccountNotFound, "account %s does not exist", AccountRef(id))
	}
	if a.currency != cur {
		return nil, okpay.Errorf(ECurrencyMismatch, "account %s holds %s, not %s", AccountRef(id), a.currency, cur)
	}
	return a, nil
}

// commitDeltas checks b.deltas against the balances and applies them, or
// applies nothing and returns why.
func (b *batch) commitDeltas() error {
	next := make([]Balance, len(b.deltas))
	for i, d := range b.deltas {
		nb := d.a.bal
		var ok1, ok2, ok3, ok4 bool
		nb.PostedDebits, ok1 = addChecked(nb.PostedDebits, d.pd)
		nb.PostedCredits, ok2 = addChecked(nb.PostedCredits, d.pc)
		nb.PendingDebits, ok3 = addChecked(nb.PendingDebits, d.pnd)
		nb.PendingCredits, ok4 = addChecked(nb.PendingCredits, d.pnc)
		if !(ok1 && ok2 && ok3 && ok4) {
			return okpay.Errorf(EOverflow, "the amount would overflow account %s", AccountRef(d.a.id))
		}
		if d.debited && d.a.flags&FlagNoOverdraft != 0 && nb.Available() < 0 {
			return okpay.Errorf(EInsufficientFunds, "account %s has insufficient funds", AccountRef(d.a.id))
		}
		next[i] = nb
	}
	for i, d := range b.deltas {
		d.a.bal = next[i]
		if !d.a.touched {
			d.a.touched = true
			d.a.version++
		}
	}
	return nil
}

func addChecked(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) || s < 0 {
		return s, false
	}
	return s, true
}

func (b *batch) applyEntry(in *EntryInput) (*Entry, error) {
	b.deltas = b.deltas[:0]
	ps := make([]Posting, len(in.Postings))
	for i, p := range in.Postings {
		dd, cd, err := b.pair(p.Debit, p.Credit, p.Currency)
		if err != nil {
			return nil, err
		}
		dd.debited = true
		if in.Pending {
			dd.pnd += p.Amount
			cd.pnc += p.Amount
		} else {
			dd.pd += p.Amount
			cd.pc += p.Amount
		}
		p.Seq = i
		ps[i] = p
	}
	if err := b.commitDeltas(); err != nil {
		return nil, err
	}
	e := &Entry{
		ID: b.newID(), Type: in.Type, Phase: PhasePosted, Postings: ps,
		Metadata: in.Metadata, EffectiveAt: in.EffectiveAt.UTC().Truncate(time.Microsecond), CreatedAt: b.now,
	}
	if e.EffectiveAt.IsZero() {
		e.EffectiveAt = b.now
	}
	if in.Pending {
		e.Phase = PhasePending
		if in.Timeout > 0 {
			e.ExpiresAt = b.now.Add(in.Timeout)
		}
	}
	return e, nil
}

func (b *batch) applyResolve(in *ResolveInput, expire bool) (*Entry, error) {
	t := b.targets[in.PendingID]
	if t == nil || t.entry.Phase != PhasePending {
		return nil, okpay.Errorf(EPendingNotFound, "there is no pending entry %s", EntryRef(in.PendingID))
	}
	switch {
	case t.resolved == "":
	case t.resolved == PhaseExpire && !expire:
		// The sweeper released it: say so, as before it did (a second
		// sweep is told it was resolved, which the sweeper expects).
		return nil, okpay.Errorf(EPendingExpired, "pending entry %s expired at %s and was released", EntryRef(in.PendingID), t.entry.ExpiresAt.Format(time.RFC3339))
	case t.resolved == PhaseVoid:
		return nil, okpay.Errorf(EPendingAlreadyResolved, "pending entry %s was already voided", EntryRef(in.PendingID))
	case t.resolved == PhaseExpire:
		return nil, okpay.Errorf(EPendingAlreadyResolved, "pending entry %s has expired and was released", EntryRef(in.PendingID))
	default:
		return nil, okpay.Errorf(EPendingAlreadyResolved, "pending entry %s was already posted", EntryRef(in.PendingID))
	}
	exp := t.entry.ExpiresAt
	expired := !exp.IsZero() && !b.now.Before(exp)
	if expire && !expired {
		return nil, okpay.Errorf(okpay.EConflict, "pending entry %s has not expired", EntryRef(in.PendingID))
	}
	if !expire && expired {
		return nil, okpay.Errorf(EPendingExpired, "pending entry %s expired at %s", EntryRef(in.PendingID), exp.Format(time.RFC3339))
	}
	orig := t.entry.Postings
	if in.Amounts != nil && len(in.Amounts) != len(orig) {
		return nil, okpay.Invalid(map[string]string{"amounts": fmt.Sprintf("give one amount for each of the %d postings", len(orig))})
	}
	b.deltas = b.deltas[:0]
	var ps []Posting
	for i, p := range orig {
		dd, cd, err := b.pair(p.Debit, p.Credit, p.Currency)
		if err != nil {
			return nil, err
		}
		dd.pnd -= p.Amount
		cd.pnc -= p.Amount
		if in.Void {
			continue
		}
		amt := p.Amount
		if in.Currencies != nil && in.Currencies[i] != p.Currency {
			return nil, okpay.Errorf(ECurrencyMismatch, "posting %d holds %s, not %s", i, p.Currency, in.Currencies[i])
		}
		if in.Amounts != nil {
			amt = in.Amounts[i]
			if amt > p.Amount {
				return nil, okpay.Errorf(EExceedsPendingAmount, "posting %d holds %d, less than the %d asked", i, p.Amount, amt)
			}
		}
		if amt > 0 {
			dd.pd += amt
			cd.pc += amt
			ps = append(ps, Posting{Seq: p.Seq, Debit: p.Debit, Credit: p.Credit, Amount: amt, Currency: p.Currency})
		}
	}
	if err := b.commitDeltas(); err != nil {
		return nil, err
	}
	phase := PhasePost
	if expire {
		phase = PhaseExpire
	} else if in.Void {
		phase = PhaseVoid
	}
	t.resolved = phase
	return &Entry{
		ID: b.newID(), Type: t.entry.Type, Phase: phase, PendingID: in.PendingID, Postings: ps,
		Metadata: in.Metadata, EffectiveAt: b.now, CreatedAt: b.now,
	}, nil
}

func (b *batch) applyReverse(in *ReverseInput) (*Entry, error) {
	t := b.targets[in.EntryID]
	if t == nil {
		return nil, okpay.Errorf(EEntryNotFound, "there is no entry %s", EntryRef(in.EntryID))
	}
	if t.entry.Phase != PhasePosted && t.entry.Phase != PhasePost {
		return nil, okpay.Errorf(ENotReversible, "entry %s is %s; only posted entries can be reversed", EntryRef(in.EntryID), t.entry.Phase)
	}
	orig := t.entry.Postings
	if in.Amounts != nil && len(in.Amounts) != len(orig) {
		return nil, okpay.Invalid(map[string]string{"amounts": fmt.Sprintf("give one amount for each of the %d postings", len(orig))})
	}
	b.deltas = b.deltas[:0]
	var ps []Posting
	for i, p := range orig {
		left := p.Amount - t.reversed[p.Seq]
		amt := left
		if in.Currencies != nil && in.Currencies[i] != p.Currency {
			return nil, okpay.Errorf(ECurrencyMismatch, "posting %d moved %s, not %s", i, p.Currency, in.Currencies[i])
		}
		if in.Amounts != nil {
			amt = in.Amounts[i]
			if amt > left {
				return nil, okpay.Errorf(EExceedsReversible, "posting %d has %d left to reverse, less than the %d asked", i, left, amt)
			}
		}
		if amt == 0 {
			continue
		}
		// The reversal moves the money back: the original credit account is debited.
		dd, cd, err := b.pair(p.Credit, p.Debit, p.Currency)
		if err != nil {
			return nil, err
		}
		dd.debited = true
		dd.pd += amt
		cd.pc += amt
		ps = append(ps, Posting{Seq: p.Seq, Debit: p.Credit, Credit: p.Debit, Amount: amt, Currency: p.Currency})
	}
	if len(ps) == 0 {
		return nil, okpay.Errorf(ENotReversible, "entry %s has nothing left to reverse", EntryRef(in.EntryID))
	}
	if err := b.commitDeltas(); err != nil {
		return nil, err
	}
	for _, p := range ps {
		t.reversed[p.Seq] += p.Amount
	}
	return &Entry{
		ID: b.newID(), Type: "reversal", Phase: PhasePosted, ReversesID: in.EntryID, Postings: ps,
		Metadata: in.Metadata, EffectiveAt: b.now, CreatedAt: b.now,
	}, nil
}

// recheckFailures looks up, for the requests that failed when applied
// without lookups, whether they are retries: a retry must get the original
// outcome, not the verdict of today's balances. (A retry that succeeded
// instead collides with a unique index, and the batch runs again, carefully.)
func (b *batch) recheckFailures() error {
	var keys, refs []any
	var failed []int
	for i, r := range b.reqs {
		if b.errs[i] == nil || isCode(b.errs[i], EIdempotencyInFlight) {
			continue
		}
		failed = append(failed, i)
		refs = append(refs, r.reference())
		if r.idem != nil {
			keys = append(keys, r.idem.Key)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if len(keys) > 0 {
		if err := b.readIdem(keys); err != nil {
			return err
		}
	}
	if err := b.readRefs(refs); err != nil {
		return err
	}
	for _, i := range failed {
		_ = b.storedResponse(i, b.reqs[i]) || b.existingEntry(i, b.reqs[i])
	}
	return nil
}

// storedResponse decides request i when its Idempotency-Key has a stored
// response: replayed, or idempotency_key_reused for another body.
func (b *batch) storedResponse(i int, r *request) bool {
	if r.idem == nil {
		return false
	}
	k := r.idem.Principal + "\x00" + r.idem.Key
	stored := b.storedIdem[k]
	if stored == nil {
		return false
	}
	if !bytes.Equal(b.idemHash[k], r.idem.RequestHash) {
		b.outs[i], b.errs[i] = Outcome{}, okpay.Errorf(EIdempotencyKeyReused, "this idempotency key was used with a different request")
	} else {
		b.outs[i], b.errs[i] = Outcome{Response: stored}, nil
	}
	return true
}

// existingEntry decides request i when an entry with its reference exists:
// returned, or reference_conflict for other content.
func (b *batch) existingEntry(i int, r *request) bool {
	ref := r.reference()
	if ri, ok := b.existingRef[ref]; ok {
		if !bytes.Equal(ri.hash, r.hash[:]) {
			if r.idem != nil && r.idem.FromEntry {
				b.outs[i], b.errs[i] = Outcome{}, okpay.Errorf(EIdempotencyKeyReused, "this idempotency key was used with a different request")
			} else {
				b.outs[i], b.errs[i] = Outcome{}, okpay.Errorf(EReferenceConflict, "reference %q was already used for a different entry", ref)
			}
		} else {
			b.outs[i], b.errs[i] = Outcome{Existing: true, Entry: &Entry{ID: ri.id}}, nil // filled by loadExisting
		}
		return true
	}
	return false
}

// readIdem loads the stored Idempotency-Key records among keys.
func (b *batch) readIdem(keys []any) error {
	rows, err := b.sc.query(b.ctx, b.tx, qIdemKeys, keys)
	if err != nil {
		return fmt.Errorf("read idempotency keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p, k string
		var h, body []byte
		var status int
		if err := rows.Scan(&p, &k, &h, &status, &body); err != nil {
			return err
		}
		b.storedIdem[p+"\x00"+k] = &Response{Status: status, Body: body, Replayed: true}
		b.idemHash[p+"\x00"+k] = h
	}
	return rows.Err()
}

// readRefs loads the existing entries among refs.
func (b *batch) readRefs(refs []any) error {
	rows, err := b.sc.query(b.ctx, b.tx, qReferences, refs)
	if err != nil {
		return fmt.Errorf("read references: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ri refInfo
		var ref string
		if err := rows.Scan(&ri.id, &ref, &ri.hash); err != nil {
			return err
		}
		b.existingRef[ref] = ri
	}
	return rows.Err()
}

// loadExisting fills in the entries that retried references point at.
func (b *batch) loadExisting() error {
	var want []int64
	for i := range b.outs {
		if b.outs[i].Existing && b.outs[i].Entry != nil && b.outs[i].Entry.Reference == "" {
			want = append(want, b.outs[i].Entry.ID)
		}
	}
	if len(want) == 0 {
		return nil
	}
	ents, err := loadEntries(b.ctx, b.tx, b.sc, want)
	if err != nil {
		return err
	}
	byID := make(map[int64]*Entry, len(ents))
	for _, e := range ents {
		byID[e.ID] = e
	}
	for i := range b.outs {
		if o := &b.outs[i]; o.Existing && o.Entry != nil && o.Entry.Reference == "" {
			if e := byID[o.Entry.ID]; e != nil {
				o.Entry = e
			} else {
				return errors.New("ledger: an entry vanished during a batch")
			}
		}
	}
	return nil
}

// render builds the responses of requests that carry an idempotency key.
func (b *batch) render() {
	for i, r := range b.reqs {
		if r.idem == nil || b.outs[i].Response != nil {
			continue
		}
		if isCode(b.errs[i], EIdempotencyKeyReused) || isCode(b.errs[i], EIdempotencyInFlight) {
			continue
		}
		status, body, store := r.idem.Render(b.outs[i].Entry, b.errs[i])
		if r.idem.FromEntry && b.errs[i] == nil {
			// The entry is the record: a retry renders it again.
			b.outs[i].Response = &Response{Status: status, Body: body, Stored: true, Replayed: b.outs[i].Existing}
			continue
		}
		b.outs[i].Response = &Response{Status: status, Body: body, Stored: store}
		if store {
			b.idemRows = append(b.idemRows, idemRow{principal: r.idem.Principal, key: r.idem.Key, hash: r.idem.RequestHash, status: status, body: body})
		}
	}
}

// chunk bounds the rows of one multi-row statement (parameter limits).
const chunk = 256

// execRows runs a multi-row statement over args (cols values per row) in
// chunks whose sizes are powers of two, so few statement texts exist.
func (b *batch) execRows(text func(int) string, args []any, cols int) error {
	for len(args) > 0 {
		n := chunkSize(len(args) / cols)
		if err := b.sc.exec(b.ctx, b.tx, text(n), args[:n*cols]); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}

func (b *batch) write() error {
	if b.l.db.Dialect == sqldb.Postgres {
		if err := b.writePostgres(); err != nil {
			return err
		}
		return b.writeIdemStaged()
	}
	if len(b.newEnts) > 0 {
		args := make([]any, 0, len(b.newEnts)*entryCols)
		nposts := 0
		for j, e := range b.newEnts {
			h := b.hashes[j]
			args = append(args, e.ID, e.Reference, e.Type, string(e.Phase), nullID(e.PendingID), nullID(e.ReversesID),
				nullMicros(e.ExpiresAt), h[:], encodeMeta(e.Metadata), micros(e.EffectiveAt), micros(e.CreatedAt))
			nposts += len(e.Postings)
		}
		if err := b.execRows(b.sc.insertEntries, args, entryCols); err != nil {
			return fmt.Errorf("insert entries: %w", err)
		}
		args = make([]any, 0, nposts*postingCols)
		for _, e := range b.newEnts {
			for _, p := range e.Postings {
				args = append(args, e.ID, p.Seq, p.Debit, p.Credit, p.Amount, string(p.Currency))
			}
		}
		if err := b.execRows(b.sc.insertPostings, args, postingCols); err != nil {
			return fmt.Errorf("insert postings: %w", err)
		}
	}
	var args []any
	for _, a := range b.accts {
		if a.touched {
			args = append(args, a.id, a.bal.PostedDebits, a.bal.PostedCredits, a.bal.PendingDebits, a.bal.PendingCredits, a.version)
		}
	}
	if err := b.execRows(b.sc.updateBalances, args, balanceCols); err != nil {
		return fmt.Errorf("update balances: %w", err)
	}
	return b.writeIdemStaged()
}

// writeIdemStaged writes the batch's idempotency records and its hooks'
// staged rows.
func (b *batch) writeIdemStaged() error {
	if len(b.idemRows) > 0 {
		args := make([]any, 0, len(b.idemRows)*idemCols)
		for _, r := range b.idemRows {
			args = append(args, r.principal, r.key, r.hash, r.status, r.body, micros(b.now))
		}
		if err := b.execRows(b.sc.insertIdem, args, idemCols); err != nil {
			return fmt.Errorf("insert idempotency keys: %w", err)
		}
	}
	return b.writeStaged()
}

// qWritePostgres writes a batch's entries, postings and balances in one
// statement, whatever their numbers: the rows travel as one array per
// column. Three multi-row statements took three round trips to the
// server, each waited for by the writer. PostgreSQL checks the postings'
// foreign keys to their entries at the end of the statement, when both
// inserts are done.
const qWritePostgres = `WITH e AS (
	INSERT INTO journal_entries(id, reference, type, phase, pending_id, reverses_id, expires_at, content_hash, metadata, effective_at, created_at)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bytea[], $9::text[], $10::bigint[], $11::bigint[])
), p AS (
	INSERT INTO postings(entry_id, seq, debit_account, credit_account, amount, currency)
	SELECT * FROM unnest($12::bigint[], $13::integer[], $14::bigint[], $15::bigint[], $16::bigint[], $17::text[])
)
UPDATE balances AS b SET posted_debits = v.pd, posted_credits = v.pc, pending_debits = v.pnd, pending_credits = v.pnc, version = v.ver
FROM unnest($18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[], $23::bigint[]) AS v(id, pd, pc, pnd, pnc, ver)
WHERE b.account_id = v.id`

// writePostgres runs qWritePostgres for the batch.
func (b *batch) writePostgres() error {
	n := len(b.newEnts)
	var (
		ids, eff, created     = make([]int64, n), make([]int64, n), make([]int64, n)
		refs, types, phases   = make([]string, n), make([]string, n), make([]string, n)
		metas                 = make([]string, n)
		pending, reverses     = make([]*int64, n), make([]*int64, n)
		expires               = make([]*int64, n)
		hashes                = make([][]byte, n)
		pEntry, pDebit, pCred []int64
		pAmount               []int64
		pSeq                  []int32
		pCur                  []string
	)
	nullable := func(v int64) *int64 {
		if v == 0 {
			return nil
		}
		return &v
	}
	for j, e := range b.newEnts {
		ids[j], refs[j], types[j], phases[j] = e.ID, e.Reference, e.Type, string(e.Phase)
		pending[j], reverses[j] = nullable(e.PendingID), nullable(e.ReversesID)
		if !e.ExpiresAt.IsZero() {
			us := micros(e.ExpiresAt)
			expires[j] = &us
		}
		hashes[j] = b.hashes[j][:]
		metas[j], eff[j], created[j] = encodeMeta(e.Metadata), micros(e.EffectiveAt), micros(e.CreatedAt)
		for _, p := range e.Postings {
			pEntry, pSeq, pDebit, pCred = append(pEntry, e.ID), append(pSeq, int32(p.Seq)), append(pDebit, p.Debit), append(pCred, p.Credit)
			pAmount, pCur = append(pAmount, p.Amount), append(pCur, string(p.Currency))
		}
	}
	var bID, bPD, bPC, bPnD, bPnC, bVer []int64
	for _, a := range b.accts {
		if a.touched {
			bID, bPD, bPC = append(bID, a.id), append(bPD, a.bal.PostedDebits), append(bPC, a.bal.PostedCredits)
			bPnD, bPnC, bVer = append(bPnD, a.bal.PendingDebits), append(bPnC, a.bal.PendingCredits), append(bVer, a.version)
		}
	}
	if n == 0 && len(bID) == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(b.ctx, qWritePostgres,
		ids, refs, types, phases, pending, reverses, expires, hashes, metas, eff, created,
		pEntry, pSeq, pDebit, pCred, pAmount, pCur,
		bID, bPD, bPC, bPnD, bPnC, bVer)
	if err != nil {
		return fmt.Errorf("write entries, postings and balances: %w", err)
	}
	return nil
}
