package sqldb

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"strings"

	"modernc.org/sqlite"
)

// The SQLite driver compiles every statement it is handed again on each
// Exec and Query and throws it away after: for the short statements OKPay
// runs, compiling is a large share of the work (a fifth of the chat
// server's CPU in a profile). The connector below wraps the driver's
// connections with a per-connection cache of compiled statements keyed by
// their text, so each distinct statement is compiled once per connection.
//
// database/sql gives a connection to one goroutine at a time, so the cache
// needs no lock. A statement whose rows are still open (a query run again
// while iterating the results of the same text) is not shared: the second
// use gets a statement of its own, compiled and thrown away as before.

// stmtCacheSize bounds the statements one connection keeps compiled; past
// it the least recently used is finalized.
const stmtCacheSize = 256

// openSQLiteDB opens a pool of modernc SQLite connections to dsn, each
// wrapped with a statement cache.
func openSQLiteDB(dsn string) (*sql.DB, error) {
	if err := registerWALVFS(); err != nil {
		return nil, err
	}
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{c}), nil
}

type cachingConnector struct{ driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(cn, stmtCacheSize), nil
}

// The interfaces of the driver's connection that the cache relies on; the
// modernc connection has them all.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachedStmt struct {
	query string
	stmt  driver.Stmt
	busy  bool // rows of it are open
	elem  *list.Element
}

// cachingConn is a driver connection with a statement cache.
type cachingConn struct {
	sqliteConn
	max   int
	stmts map[string]*cachedStmt
	lru   list.List // of *cachedStmt, most recent first
	// compiled counts the statements compiled into the cache (tests).
	compiled int
}

func newCachingConn(cn driver.Conn, max int) driver.Conn {
	sc, ok := cn.(sqliteConn)
	if !ok { // not expected: serve the connection as it is
		return cn
	}
	return &cachingConn{sqliteConn: sc, max: max, stmts: make(map[string]*cachedStmt)}
}

// cacheable reports whether a statement's text should be kept compiled:
// scripts of several statements (migrations) are not.
func cacheable(query string) bool {
	return !strings.Contains(query, ";")
}

// get returns the cached statement for query, compiling it when missing,
// or nil when query is not to be cached or its statement is busy.
func (c *cachingConn) get(ctx context.Context, query string) (*cachedStmt, error) {
	if !cacheable(query) {
		return nil, nil
	}
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		c.lru.MoveToFront(s.elem)
		return s, nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.compiled++
	s := &cachedStmt{query: query, stmt: st}
	s.elem = c.lru.PushFront(s)
	c.stmts[query] = s
	c.evict()
	return s, nil
}

// evict finalizes the least recently used idle statements past the bound.
func (c *cachingConn) evict() {
	for e := c.lru.Back(); e != nil && len(c.stmts) > c.max; {
		prev := e.Prev()
		if s := e.Value.(*cachedStmt); !s.busy {
			c.lru.Remove(e)
			delete(c.stmts, s.query)
			s.stmt.Close()
		}
		e = prev
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return s.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, s: s}, nil
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for _, s := range c.stmts {
		errs = append(errs, s.stmt.Close())
	}
	clear(c.stmts)
	c.lru.Init()
	errs = append(errs, c.sqliteConn.Close())
	return errors.Join(errs...)
}

// cachedRows gives its statement back to the cache when closed, and passes
// the column-type questions database/sql may ask on to the driver's rows.
type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.s.busy = false
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
