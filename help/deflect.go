package help

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
)

// Self-service in the chat widget: while a customer writes a question,
// the widget suggests articles (Suggest); when one of them answers it and
// the customer says so ("This solved it"), the attempt ends without a
// conversation and counts as deflected (Deflect), per article and UTC
// day, in the help reports (Deflections).

// MaxSuggestions bounds the articles Suggest returns.
const MaxSuggestions = 5

// Suggest finds up to n (≤ MaxSuggestions) published articles of locale
// for a question being written, best first, else of the other language.
// Unlike Search it does not count a query that found nothing: a question
// half typed is no search.
func (s *Service) Suggest(ctx context.Context, q string, locale i18n.Lang, n int) (*Result, error) {
	norm := NormalizeQuery(q)
	res := &Result{Query: norm, Locale: locale}
	if n <= 0 || n > MaxSuggestions {
		n = MaxSuggestions
	}
	terms := QueryTerms(norm)
	if len(terms) == 0 {
		return res, nil
	}
	hits, lang, err := s.searchEitherLocale(ctx, terms, locale, n)
	if err != nil {
		return nil, err
	}
	if lang != "" {
		res.Locale = lang
	}
	res.Hits = hits
	return res, nil
}

// Deflect records that published article id answered visitor's question
// in the chat widget, so no conversation was started. visitor is an
// opaque key (a hash the caller makes); one visitor counts once per
// article and day. It reports whether this was a new count.
func (s *Service) Deflect(ctx context.Context, id int64, visitor string) (bool, error) {
	if visitor == "" || len(visitor) > 128 {
		return false, okpay.Invalid(map[string]string{"visitor": "Unknown visitor."})
	}
	now := s.clock.Now().UTC()
	var st string
	err := s.db.Read.QueryRowContext(ctx, `SELECT status FROM help_articles WHERE id = $1`, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && st != string(StatusPublished)) {
		return false, errNoArticle
	}
	if err != nil {
		return false, okpay.Internal(err, "read article")
	}
	res, err := s.db.Write.ExecContext(ctx, `INSERT INTO help_deflections (article_id, day, visitor, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (article_id, day, visitor) DO NOTHING`, id, now.Format(time.DateOnly), visitor, micros(now))
	if err != nil {
		return false, okpay.Internal(err, "record deflection")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, okpay.Internal(err, "record deflection")
	}
	return n == 1, nil
}

// Deflection is how many chat attempts an article ended on one day.
type Deflection struct {
	Day       string // YYYY-MM-DD, UTC
	ArticleID int64
	Slug      string
	Locale    i18n.Lang
	Title     string
	Count     int
}

// Deflections lists the deflections per article and day of the last days
// days (today included), newest day first, then most deflections.
func (s *Service) Deflections(ctx context.Context, days int) ([]Deflection, error) {
	if days < 1 {
		days = 1
	}
	since := s.clock.Now().UTC().AddDate(0, 0, -(days - 1)).Format(time.DateOnly)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT d.day, d.article_id, a.slug, a.locale, a.title, COUNT(*) AS n
		FROM help_deflections d JOIN help_articles a ON a.id = d.article_id
		WHERE d.day >= $1 GROUP BY d.day, d.article_id, a.slug, a.locale, a.title ORDER BY d.day DESC, n DESC, a.slug`, since)
	if err != nil {
		return nil, okpay.Internal(err, "list deflections")
	}
	defer rows.Close()
	var out []Deflection
	for rows.Next() {
		var d Deflection
		var loc string
		if err := rows.Scan(&d.Day, &d.ArticleID, &d.Slug, &loc, &d.Title, &d.Count); err != nil {
			return nil, okpay.Internal(err, "list deflections")
		}
		d.Locale = i18n.Lang(loc)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list deflections")
	}
	return out, nil
}
