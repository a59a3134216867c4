package help

import (
	"context"
	"database/sql"
	"html/template"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
)

// Hit is one search result.
type Hit struct {
	Article *Article
	// Title and Snippet are HTML-escaped text with the matched words in
	// <mark>.
	Title   template.HTML
	Snippet template.HTML
	// Score is the engine's score in the hit's tier (see searchTiers):
	// hits are in order, but scores of different tiers do not compare.
	Score float64
}

// Result is a search's answer.
type Result struct {
	Query string
	Hits  []Hit
	// Locale is the language of the hits: the one asked for, or the
	// other one when only it had matches.
	Locale i18n.Lang
}

// MaxHits bounds a search's results.
const MaxHits = 20

// index writes a's search entry (published articles only): the whole
// article's terms, its head's (title and keywords) apart, and its plain
// text for the snippets.
func (s *Service) index(ctx context.Context, tx *sql.Tx, a *Article) error {
	text := s.render.Text(a.Body)
	title, kw, body := indexText(a.Locale, a.Title), indexText(a.Locale, a.Keywords), indexText(a.Locale, text)
	var err error
	if s.db.Dialect == sqldb.Postgres {
		_, err = tx.ExecContext(ctx, `INSERT INTO help_search (article_id, locale, doc, head, text) VALUES ($1, $2,
			setweight(to_tsvector('simple', $3), 'A') || setweight(to_tsvector('simple', $4), 'B') || setweight(to_tsvector('simple', $5), 'C'),
			setweight(to_tsvector('simple', $3), 'A') || setweight(to_tsvector('simple', $4), 'B'), $6)
			ON CONFLICT (article_id) DO UPDATE SET locale = excluded.locale, doc = excluded.doc, head = excluded.head, text = excluded.text`,
			a.ID, string(a.Locale), title, kw, body, text)
	} else {
		if err = s.unindexSQLite(ctx, tx, a.ID); err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO help_fts (rowid, loc, title, keywords, body) VALUES ($1, $2, $3, $4, $5)`,
				a.ID, string(a.Locale), title, kw, body)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO help_fts_head (rowid, title, keywords, text) VALUES ($1, $2, $3, $4)`, a.ID, title, kw, text)
		}
	}
	if err != nil {
		return okpay.Internal(err, "index article")
	}
	return nil
}

func (s *Service) unindexSQLite(ctx context.Context, tx *sql.Tx, id int64) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM help_fts WHERE rowid = $1`, id)
	if err == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM help_fts_head WHERE rowid = $1`, id)
	}
	return err
}

func (s *Service) unindex(ctx context.Context, tx *sql.Tx, id int64) error {
	var err error
	if s.db.Dialect == sqldb.Postgres {
		_, err = tx.ExecContext(ctx, `DELETE FROM help_search WHERE article_id = $1`, id)
	} else {
		err = s.unindexSQLite(ctx, tx, id)
	}
	if err != nil {
		return okpay.Internal(err, "unindex article")
	}
	return nil
}

// NormalizeQuery is the form a query is counted in: its words
// separated by single spaces, lower-cased, at most MaxQueryLen bytes.
func NormalizeQuery(q string) string {
	q = strings.ToLower(cleanLine(strings.ToValidUTF8(q, " ")))
	if len(q) > MaxQueryLen {
		q = q[:MaxQueryLen]
		for !utf8.ValidString(q) {
			q = q[:len(q)-1]
		}
	}
	return q
}

// Search finds the published articles of locale that match q, best
// first (at most limit, ≤ MaxHits). When locale has none it searches the
// other language; when neither has any, the query is counted among the
// searches that found nothing.
func (s *Service) Search(ctx context.Context, q string, locale i18n.Lang, limit int) (*Result, error) {
	norm := NormalizeQuery(q)
	res := &Result{Query: norm, Locale: locale}
	if norm == "" {
		return res, nil
	}
	if limit <= 0 || limit > MaxHits {
		limit = MaxHits
	}
	terms := QueryTerms(norm)
	if len(terms) > 0 {
		hits, lang, err := s.searchEitherLocale(ctx, terms, locale, limit)
		if err != nil {
			return nil, err
		}
		if lang != "" {
			res.Locale = lang
		}
		res.Hits = hits
	}
	if len(res.Hits) == 0 {
		if err := s.recordMiss(ctx, locale, norm); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// ranked is one row of the engine's ranking.
type ranked struct {
	id    int64
	score float64
}

// search ranks the articles of locale matching terms (except article
// skip) and loads them with their snippets.
func (s *Service) search(ctx context.Context, terms []string, locale i18n.Lang, limit int, skip int64) ([]Hit, error) {
	idx := make([]string, len(terms))
	for i, t := range terms {
		idx[i] = indexTerm(locale, t)
	}
	rk, err := s.rank(ctx, idx, limit, skip)
	if err != nil || len(rk) == 0 {
		return nil, err
	}
	args := make([]any, len(rk))
	for i, r := range rk {
		args[i] = r.id
	}
	in := string(sqldb.Placeholders(nil, 1, len(rk)))
	list, err := s.query(ctx, `SELECT `+articleCols+` FROM help_articles WHERE id IN (`+in+`)`, args...)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*Article, len(list))
	for _, a := range list {
		byID[a.ID] = a
	}
	texts, err := s.plainTexts(ctx, in, args)
	if err != nil {
		return nil, err
	}
	hits := make([]Hit, 0, len(rk))
	for _, r := range rk {
		a := byID[r.id]
		if a == nil {
			continue // unpublished meanwhile
		}
		text, ok := texts[r.id]
		if !ok || text == "" && a.Body != "" {
			text = s.render.Text(a.Body) // indexed before the text was kept
		}
		hits = append(hits, Hit{Article: a, Score: r.score, Title: Highlight(a.Title, terms, 0), Snippet: Highlight(text, terms, snippetBytes)})
	}
	return hits, nil
}

// plainTexts reads the plain text kept in the index for the articles
// args (in is their placeholders).
func (s *Service) plainTexts(ctx context.Context, in string, args []any) (map[int64]string, error) {
	q := `SELECT rowid, text FROM help_fts_head WHERE rowid IN (` + in + `)`
	if s.db.Dialect == sqldb.Postgres {
		q = `SELECT article_id, text FROM help_search WHERE article_id IN (` + in + `)`
	}
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, okpay.Internal(err, "search articles")
	}
	defer rows.Close()
	out := make(map[int64]string, len(args))
	for rows.Next() {
		var id int64
		var text string
		if err := rows.Scan(&id, &text); err != nil {
			return nil, okpay.Internal(err, "search articles")
		}
		out[id] = text
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "search articles")
	}
	return out, nil
}

// A search ranks the articles that hold every term and only when there
// are none those that hold any; each in two tiers, the second only when
// the first found fewer than a page, listed after the first's:
//
//  1. the articles whose head (title and keywords) holds every term,
//  2. those that hold every term anywhere;
//  3. (none in 1 and 2) those whose head holds any term,
//  4. those that hold any term anywhere.
//
// The engines' ranking (bm25, ts_rank) scores every article that matches,
// with no early exit, and a common word is in most bodies of a large help
// center but in few heads: the heads' index (help_fts_head, the head
// column) is a fraction of the size, and an article whose title or
// keywords hold the words outranks one that only mentions them anyway
// (the head columns weigh 8 and 4 times the body). Tier 2 ranks the
// articles that hold every term, which the engines find by intersecting
// the terms' lists: few, unless every term is common, and then tier 1
// has usually filled the page.
var searchTiers = []struct{ head, all bool }{{true, true}, {false, true}, {true, false}, {false, false}}

// rank asks the engine for the best articles holding the index terms
// idx, tier by tier (see searchTiers).
func (s *Service) rank(ctx context.Context, idx []string, limit int, skip int64) ([]ranked, error) {
	var out []ranked
	seen := map[int64]bool{}
	for i, t := range searchTiers {
		if len(out) >= limit || !t.all && (len(idx) == 1 || i == 2 && len(out) > 0) {
			break // a full page; or some hold every term (or any is all of one term)
		}
		// The tier's best limit articles hold at least limit-len(out)
		// that the tier before did not list, when it has that many.
		rk, err := s.rankTier(ctx, idx, t.head, t.all, limit, skip)
		if err != nil {
			return nil, err
		}
		for _, r := range rk {
			if !seen[r.id] && len(out) < limit {
				seen[r.id] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// rankTier asks the engine for the best articles holding all (or any) of
// the index terms idx in their head (or anywhere).
func (s *Service) rankTier(ctx context.Context, idx []string, head, all bool, limit int, skip int64) ([]ranked, error) {
	var rows *sql.Rows
	var err error
	if s.db.Dialect == sqldb.Postgres {
		op := " | "
		if all {
			op = " & "
		}
		col := "doc"
		if head {
			col = "head"
		}
		rows, err = s.db.Read.QueryContext(ctx, `SELECT article_id, ts_rank(`+col+`, q) AS r FROM help_search, to_tsquery('simple', $1) q
			WHERE `+col+` @@ q AND article_id <> $2 ORDER BY r DESC, article_id LIMIT $3`, strings.Join(idx, op), skip, limit)
	} else {
		op := `" OR "`
		if all {
			op = `" AND "`
		}
		// bm25's weights: title 8, keywords 4, body 1 (loc and text
		// are not indexed).
		q := `SELECT rowid, -bm25(help_fts, 0.0, 8.0, 4.0, 1.0) AS r FROM help_fts WHERE help_fts MATCH $1`
		if head {
			q = `SELECT rowid, -bm25(help_fts_head, 8.0, 4.0, 0.0) AS r FROM help_fts_head WHERE help_fts_head MATCH $1`
		}
		rows, err = s.db.Read.QueryContext(ctx, q+` AND rowid <> $2 ORDER BY r DESC, rowid LIMIT $3`, `"`+strings.Join(idx, op)+`"`, skip, limit)
	}
	if err != nil {
		return nil, okpay.Internal(err, "search articles")
	}
	defer rows.Close()
	var rk []ranked
	for rows.Next() {
		var r ranked
		if err := rows.Scan(&r.id, &r.score); err != nil {
			return nil, okpay.Internal(err, "search articles")
		}
		rk = append(rk, r)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "search articles")
	}
	return rk, nil
}

// Related returns up to n published articles of a's locale that share
// terms with a's title and keywords, those of a's category first, then
// others of its category.
func (s *Service) Related(ctx context.Context, a *Article, n int) ([]*Article, error) {
	terms := QueryTerms(a.Title + " " + a.Keywords)
	var out []*Article
	if len(terms) > 0 {
		hits, err := s.search(ctx, terms, a.Locale, 3*n, a.ID)
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(hits, func(x, y Hit) int {
			xs, ys := x.Article.Category == a.Category, y.Article.Category == a.Category
			switch {
			case xs && !ys:
				return -1
			case ys && !xs:
				return 1
			}
			return 0
		})
		for _, h := range hits {
			if len(out) < n {
				out = append(out, h.Article)
			}
		}
	}
	if len(out) < n {
		same, err := s.List(ctx, a.Locale, a.Category)
		if err != nil {
			return nil, err
		}
		for _, b := range same {
			if len(out) < n && b.ID != a.ID && !slices.ContainsFunc(out, func(x *Article) bool { return x.ID == b.ID }) {
				out = append(out, b)
			}
		}
	}
	return out, nil
}

// snippetBytes is about how much text a snippet shows.
const snippetBytes = 240

// Highlight returns text HTML-escaped with the words that match terms
// in <mark>. With max > 0 it shows only the part of about max bytes
// holding the most distinct matches, with "…" where text was cut.
func Highlight(text string, terms []string, max int) template.HTML {
	want := make(map[string]bool, len(terms))
	for _, t := range terms {
		want[t] = true
	}
	type span struct {
		start, end int
		term       string
	}
	// A word can only stem to a term that starts with the same two
	// letters (stemming changes endings), so most words skip the stemmer.
	// A run of Han characters can only match a Chinese term it holds.
	heads := map[string]bool{}
	var han []string
	for _, t := range terms {
		heads[head(t)] = true
		if r, _ := utf8.DecodeRuneInString(t); isHan(r) {
			han = append(han, t)
		}
	}
	skip := func(w string) bool {
		if len(w) >= 2 && w[0] < 0x80 && w[1] < 0x80 {
			return !heads[strings.ToLower(w[:2])]
		}
		if r, _ := utf8.DecodeRuneInString(w); isHan(r) {
			return !slices.ContainsFunc(han, func(t string) bool { return strings.Contains(w, t) })
		}
		return false
	}
	var spans []span
	for _, t := range tokenize(text, false, skip) {
		if want[t.Term] {
			if n := len(spans); n > 0 && t.Start <= spans[n-1].end {
				spans[n-1].end = max2(spans[n-1].end, t.End)
				continue
			}
			spans = append(spans, span{t.Start, t.End, t.Term})
		}
	}
	from, to := 0, len(text)
	if max > 0 && len(text) > max {
		best, bestN := -1, -1
		for i := range spans {
			seen := map[string]bool{}
			for j := i; j < len(spans) && spans[j].end-spans[i].start <= max; j++ {
				seen[spans[j].term] = true
			}
			if len(seen) > bestN {
				best, bestN = i, len(seen)
			}
		}
		from = 0
		if best >= 0 {
			from = max2(0, spans[best].start-max/4)
		}
		to = min(len(text), from+max)
		for from > 0 && !utf8.RuneStart(text[from]) {
			from++
		}
		for to < len(text) && !utf8.RuneStart(text[to]) {
			to--
		}
	}
	var b strings.Builder
	if from > 0 {
		b.WriteString("…")
	}
	pos := from
	for _, sp := range spans {
		if sp.end <= from || sp.start >= to {
			continue
		}
		st, en := max2(sp.start, from), min(sp.end, to)
		b.WriteString(template.HTMLEscapeString(strings.ReplaceAll(text[pos:st], "\n", " ")))
		b.WriteString("<mark>")
		b.WriteString(template.HTMLEscapeString(text[st:en]))
		b.WriteString("</mark>")
		pos = en
	}
	b.WriteString(template.HTMLEscapeString(strings.ReplaceAll(text[pos:to], "\n", " ")))
	if to < len(text) {
		b.WriteString("…")
	}
	return template.HTML(b.String()) //nolint:gosec // escaped above; only <mark> is ours
}

// head is the first two bytes of an ASCII term (the whole of a shorter
// or non-ASCII one).
func head(t string) string {
	if len(t) >= 2 && t[0] < 0x80 && t[1] < 0x80 {
		return t[:2]
	}
	return t
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func (s *Service) recordMiss(ctx context.Context, locale i18n.Lang, q string) error {
	now := micros(s.clock.Now())
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO help_search_misses (locale, query, count, first_at, last_at) VALUES ($1, $2, 1, $3, $3)
		ON CONFLICT (locale, query) DO UPDATE SET count = help_search_misses.count + 1, last_at = excluded.last_at`, string(locale), q, now)
	if err != nil {
		return okpay.Internal(err, "record search miss")
	}
	return nil
}

// Miss is a query that found nothing.
type Miss struct {
	Locale i18n.Lang
	Query  string
	Count  int
	First  time.Time
	Last   time.Time
}

// Misses lists the searches that found nothing, most frequent first.
func (s *Service) Misses(ctx context.Context, limit int) ([]Miss, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT locale, query, count, first_at, last_at FROM help_search_misses
		ORDER BY count DESC, last_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, okpay.Internal(err, "list search misses")
	}
	defer rows.Close()
	var out []Miss
	for rows.Next() {
		var m Miss
		var loc string
		var f, l int64
		if err := rows.Scan(&loc, &m.Query, &m.Count, &f, &l); err != nil {
			return nil, okpay.Internal(err, "list search misses")
		}
		m.Locale, m.First, m.Last = i18n.Lang(loc), fromMicros(f), fromMicros(l)
		out = append(out, m)
	}
	return out, rows.Err()
}

// searchEitherLocale searches locale's articles and, when none match,
// the other locale's; lang is that other locale when its hits are
// returned, "" otherwise.
func (s *Service) searchEitherLocale(ctx context.Context, terms []string, locale i18n.Lang, limit int) (hits []Hit, lang i18n.Lang, err error) {
	if hits, err = s.search(ctx, terms, locale, limit, 0); err != nil || len(hits) > 0 {
		return hits, "", err
	}
	other := i18n.En
	if locale == i18n.En {
		other = i18n.ZhCN
	}
	if hits, err = s.search(ctx, terms, other, limit, 0); err != nil || len(hits) == 0 {
		return hits, "", err
	}
	return hits, other, nil
}
