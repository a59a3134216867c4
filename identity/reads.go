package identity

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// The reads every authenticated request makes — its session by token
// hash with its user, in one statement (Authenticate), and (money-moving
// routes) its Idempotency-Key record — and the reads of a session or a
// user alone, prepared once on SQLite's reader pool. The pure-Go SQLite
// driver parses a statement text at every call otherwise: that parsing
// was about a third of a request's database time. database/sql prepares
// a *sql.Stmt once per pooled connection and reuses it. On PostgreSQL the
// driver caches prepared statements by itself: nothing to do there. The
// statements read exactly what the unprepared texts read, in their own
// statement (a fresh snapshot each), so a revoked session is refused at
// the next request as before (SES-05).
type readStmts struct {
	once                                     sync.Once
	session, sessionUser, user, storedAnswer *sql.Stmt // nil: not prepared (PostgreSQL, or preparing failed)
}

const (
	qSessionByHash = `SELECT ` + sessionCols + ` FROM sessions WHERE token_hash = $1`
	qUserByID      = `SELECT ` + userCols + ` FROM users WHERE id = $1`
	qStoredAnswer  = `SELECT request_hash, status, response FROM idempotency_keys WHERE key = $1 AND principal = $2`
)

// qSessionUserByHash reads a session and its user in one statement
// (Authenticate): sessionCols, then userCols. (A variable only because
// the column lists are qualified by code; it never changes.)
var qSessionUserByHash = `SELECT ` + qualify("s", sessionCols) + `, ` + qualify("u", userCols) +
	` FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`

// qualify prefixes every column of a comma-separated list with table.
func qualify(table, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// reads returns the prepared statements, preparing them on first use. A
// statement that fails to prepare stays nil and its caller runs the text.
func (s *Service) reads() *readStmts {
	r := &s.readStmts
	r.once.Do(func() {
		if s.DB.Dialect != "sqlite" {
			return
		}
		prep := func(q string) *sql.Stmt {
			// Anonymous parameters: the driver looks named ones ($1) up
			// by name at every call.
			st, err := s.DB.Read.PrepareContext(context.Background(), strings.NewReplacer("$1", "?", "$2", "?").Replace(q))
			if err != nil {
				return nil
			}
			return st
		}
		r.session, r.sessionUser, r.user, r.storedAnswer = prep(qSessionByHash), prep(qSessionUserByHash), prep(qUserByID), prep(qStoredAnswer)
	})
	return r
}

// readRow runs query on q, through st when q is the reader pool and st
// was prepared.
func (s *Service) readRow(ctx context.Context, q querier, st *sql.Stmt, query string, args ...any) *sql.Row {
	if st != nil {
		if db, ok := q.(*sql.DB); ok && db == s.DB.Read {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return q.QueryRowContext(ctx, query, args...)
}
