// Package help is the help center: articles in zh-CN and en keyed by slug
// and locale, in the support desk's categories, written in Markdown and
// rendered safely, with draft and published states and a revision for
// every save; one search for Chinese, English and mixed queries on both
// engines (SQLite FTS5, PostgreSQL tsvector) over the tokenizer's terms;
// "Was this helpful?" votes; and the list of searches that found nothing.
// The articles OKPay ships (articles/<locale>/<slug>.md) are loaded on
// first start and never overwrite a staff member's edits.
package help

import (
	"context"
	"database/sql"
	"errors"
	"html/template"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

// Category is what an article is about: the support desk's four
// categories and the contact channels.
type Category string

// The categories, with the values of desk.Category for the desk's four.
const (
	CategoryAccount         Category = "account"
	CategoryTransaction     Category = "transaction"
	CategorySecurityPrivacy Category = "security_privacy"
	CategoryTechnical       Category = "technical"
	CategoryContact         Category = "contact"
)

// Categories lists the categories in the order the pages show them.
func Categories() []Category {
	return []Category{CategoryAccount, CategoryTransaction, CategorySecurityPrivacy, CategoryTechnical, CategoryContact}
}

// Path is the category's URL segment: /help/<path>.
func (c Category) Path() string { return strings.ReplaceAll(string(c), "_", "-") }

// CategoryFromPath reads a URL segment made by Path.
func CategoryFromPath(p string) (Category, bool) {
	c := Category(strings.ReplaceAll(p, "-", "_"))
	return c, slices.Contains(Categories(), c)
}

// Status is an article's state.
type Status string

// The states.
const (
	StatusDraft     Status = "draft"
	StatusPublished Status = "published"
)

// Error codes.
const (
	// ESlugTaken: another article of the locale has the slug.
	ESlugTaken = "help_slug_taken"
	// EFeedbackLimited: this visitor voted too often lately.
	EFeedbackLimited = "help_feedback_limited"
)

// Limits.
const (
	MaxSlug     = 80
	MaxTitle    = 150
	MaxKeywords = 500
	MaxBody     = 50000
	MaxNote     = 200
	// FeedbackPerHour is how many votes one visitor may give in an hour.
	FeedbackPerHour = 20
)

// ArticlePrefix is the public id prefix of an article.
const ArticlePrefix = "art"

// Article is one article in one locale, as of its current revision.
type Article struct {
	ID          int64
	Slug        string
	Locale      i18n.Lang
	Category    Category
	Status      Status
	RevisionID  int64
	Title       string
	Keywords    string
	Body        string // Markdown
	HelpfulYes  int
	HelpfulNo   int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	PublishedAt time.Time
}

// Ref is the article's public id.
func (a *Article) Ref() string { return ids.Format(ArticlePrefix, a.ID) }

// ParseRef reads an id made by Ref.
func ParseRef(s string) (int64, bool) { return ids.Parse(ArticlePrefix, s) }

// Revision is one saved version of an article.
type Revision struct {
	ID        int64
	ArticleID int64
	Number    int
	Title     string
	Keywords  string
	Category  Category
	Body      string
	Author    int64 // agent id; 0 for the shipped articles
	Note      string
	CreatedAt time.Time
}

// Input is what an editor writes.
type Input struct {
	Slug     string
	Locale   i18n.Lang
	Category Category
	Title    string
	Keywords string
	Body     string
	Note     string // what changed (optional)
}

// Service is the help center. Create it with New.
type Service struct {
	db     *sqldb.DB
	clock  clock.Clock
	ids    ids.Generator
	render *Renderer
}

// Config holds the Service's dependencies.
type Config struct {
	DB       *sqldb.DB
	Clock    clock.Clock
	IDs      ids.Generator
	Contacts Contacts
}

// New returns the help center's service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Clock == nil || cfg.IDs == nil {
		return nil, errors.New("help: DB, Clock and IDs are required")
	}
	return &Service{db: cfg.DB, clock: cfg.Clock, ids: cfg.IDs, render: NewRenderer(cfg.Contacts)}, nil
}

// HTML renders an article's Markdown to safe HTML.
func (s *Service) HTML(a *Article) template.HTML { return s.render.HTML(a.Body) }

// Preview renders Markdown the way a published article would show.
func (s *Service) Preview(md string) template.HTML { return s.render.HTML(md) }

var slugRE = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// ValidSlug reports whether s can name an article: lower-case letters,
// digits and single dashes, at most 80 bytes, and not a category's path.
func ValidSlug(s string) bool {
	if len(s) > MaxSlug || !slugRE.MatchString(s) {
		return false
	}
	_, isCat := CategoryFromPath(s)
	return !isCat && s != "search"
}

func cleanLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func cleanInput(in Input) (Input, error) {
	out := Input{
		Slug: strings.ToLower(strings.TrimSpace(in.Slug)), Locale: in.Locale, Category: in.Category,
		Title: cleanLine(in.Title), Keywords: cleanLine(in.Keywords), Note: cleanLine(in.Note),
		Body: strings.TrimSpace(strings.ReplaceAll(in.Body, "\r\n", "\n")),
	}
	bad := map[string]string{}
	if !ValidSlug(out.Slug) {
		bad["slug"] = "Use 1 to 80 lower-case letters, digits and single dashes (not a category's name)."
	}
	if _, ok := i18n.ParseLang(string(out.Locale)); !ok {
		bad["locale"] = "Choose zh-CN or en."
	}
	if !slices.Contains(Categories(), out.Category) {
		bad["category"] = "Choose a category."
	}
	if out.Title == "" || utf8.RuneCountInString(out.Title) > MaxTitle {
		bad["title"] = "Give a title of at most 150 characters."
	}
	if utf8.RuneCountInString(out.Keywords) > MaxKeywords {
		bad["keywords"] = "Keep the search words under 500 characters."
	}
	if out.Body == "" || len(out.Body) > MaxBody {
		bad["body"] = "Write the article (at most 50,000 bytes)."
	}
	if utf8.RuneCountInString(out.Note) > MaxNote {
		bad["note"] = "Keep the note under 200 characters."
	}
	for k, v := range map[string]string{"title": out.Title, "keywords": out.Keywords, "body": out.Body, "note": out.Note} {
		if !utf8.ValidString(v) {
			bad[k] = "The text is not valid UTF-8."
		}
	}
	if len(bad) > 0 {
		return out, okpay.Invalid(bad)
	}
	return out, nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

var errNoArticle = okpay.Errorf(okpay.ENotFound, "There is no such article.")

const articleCols = `id, slug, locale, category, status, revision_id, title, keywords, body, helpful_yes, helpful_no, created_at, updated_at, published_at`

func scanArticle(row interface{ Scan(...any) error }) (*Article, error) {
	var a Article
	var loc, cat, st string
	var c, u, p int64
	if err := row.Scan(&a.ID, &a.Slug, &loc, &cat, &st, &a.RevisionID, &a.Title, &a.Keywords, &a.Body, &a.HelpfulYes, &a.HelpfulNo, &c, &u, &p); err != nil {
		return nil, err
	}
	a.Locale, a.Category, a.Status = i18n.Lang(loc), Category(cat), Status(st)
	a.CreatedAt, a.UpdatedAt, a.PublishedAt = fromMicros(c), fromMicros(u), fromMicros(p)
	return &a, nil
}

// Create adds a draft article with its first revision, written by agent
// by (0: OKPay itself).
func (s *Service) Create(ctx context.Context, by int64, in Input) (*Article, error) {
	in, err := cleanInput(in)
	if err != nil {
		return nil, err
	}
	var a *Article
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var e error
		a, e = s.create(ctx, tx, by, in, false)
		return e
	})
	return a, err
}

func (s *Service) create(ctx context.Context, tx *sql.Tx, by int64, in Input, publish bool) (*Article, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	a := &Article{ID: s.ids.Next(), Slug: in.Slug, Locale: in.Locale, Category: in.Category, Status: StatusDraft,
		Title: in.Title, Keywords: in.Keywords, Body: in.Body, CreatedAt: now, UpdatedAt: now}
	if publish {
		a.Status, a.PublishedAt = StatusPublished, now
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO help_articles (`+articleCols+`) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, 0, 0, $9, $9, $10)`,
		a.ID, a.Slug, string(a.Locale), string(a.Category), string(a.Status), a.Title, a.Keywords, a.Body, micros(now), micros(a.PublishedAt))
	if sqldb.IsUniqueViolation(err) {
		return nil, okpay.Errorf(ESlugTaken, "Another article in this language has that slug.")
	}
	if err != nil {
		return nil, okpay.Internal(err, "create article")
	}
	if err := s.addRevision(ctx, tx, a, by, in.Note, now); err != nil {
		return nil, err
	}
	if publish {
		if err := s.index(ctx, tx, a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// addRevision stores a's current fields as its next revision and points
// the article at it.
func (s *Service) addRevision(ctx context.Context, tx *sql.Tx, a *Article, by int64, note string, now time.Time) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM help_revisions WHERE article_id = $1`, a.ID).Scan(&n); err != nil {
		return okpay.Internal(err, "number revision")
	}
	rid := s.ids.Next()
	if _, err := tx.ExecContext(ctx, `INSERT INTO help_revisions (id, article_id, number, title, keywords, category, body, author, note, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, rid, a.ID, n+1, a.Title, a.Keywords, string(a.Category), a.Body, by, note, micros(now)); err != nil {
		return okpay.Internal(err, "save revision")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE help_articles SET revision_id = $1 WHERE id = $2`, rid, a.ID); err != nil {
		return okpay.Internal(err, "point at revision")
	}
	a.RevisionID = rid
	return nil
}

// Update saves a new revision of article id (its slug, locale, category,
// title, keywords and body). A published article stays published and
// its index entry follows the new text.
func (s *Service) Update(ctx context.Context, by, id int64, in Input) (*Article, error) {
	in, err := cleanInput(in)
	if err != nil {
		return nil, err
	}
	var a *Article
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var e error
		if a, e = getArticle(ctx, tx, id); e != nil {
			return e
		}
		now := s.clock.Now().UTC().Truncate(time.Microsecond)
		a.Slug, a.Locale, a.Category, a.Title, a.Keywords, a.Body, a.UpdatedAt = in.Slug, in.Locale, in.Category, in.Title, in.Keywords, in.Body, now
		_, e = tx.ExecContext(ctx, `UPDATE help_articles SET slug = $1, locale = $2, category = $3, title = $4, keywords = $5, body = $6,
			updated_at = $7 WHERE id = $8`, a.Slug, string(a.Locale), string(a.Category), a.Title, a.Keywords, a.Body, micros(now), id)
		if sqldb.IsUniqueViolation(e) {
			return okpay.Errorf(ESlugTaken, "Another article in this language has that slug.")
		}
		if e != nil {
			return okpay.Internal(e, "update article")
		}
		if e := s.addRevision(ctx, tx, a, by, in.Note, now); e != nil {
			return e
		}
		if a.Status == StatusPublished {
			return s.index(ctx, tx, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// SetStatus publishes (true) or unpublishes (false) article id.
func (s *Service) SetStatus(ctx context.Context, id int64, publish bool) (*Article, error) {
	var a *Article
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var e error
		if a, e = getArticle(ctx, tx, id); e != nil {
			return e
		}
		now := s.clock.Now().UTC().Truncate(time.Microsecond)
		if publish {
			a.Status = StatusPublished
			if a.PublishedAt.IsZero() {
				a.PublishedAt = now
			}
		} else {
			a.Status = StatusDraft
		}
		if _, e = tx.ExecContext(ctx, `UPDATE help_articles SET status = $1, published_at = $2, updated_at = $3 WHERE id = $4`,
			string(a.Status), micros(a.PublishedAt), micros(now), id); e != nil {
			return okpay.Internal(e, "set article status")
		}
		a.UpdatedAt = now
		if publish {
			return s.index(ctx, tx, a)
		}
		return s.unindex(ctx, tx, id)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func getArticle(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id int64) (*Article, error) {
	a, err := scanArticle(q.QueryRowContext(ctx, `SELECT `+articleCols+` FROM help_articles WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoArticle
	}
	if err != nil {
		return nil, okpay.Internal(err, "read article")
	}
	return a, nil
}

// Get reads article id, in any state.
func (s *Service) Get(ctx context.Context, id int64) (*Article, error) {
	return getArticle(ctx, s.db.Read, id)
}

// Published reads the published article slug in locale.
func (s *Service) Published(ctx context.Context, slug string, locale i18n.Lang) (*Article, error) {
	a, err := scanArticle(s.db.Read.QueryRowContext(ctx, `SELECT `+articleCols+` FROM help_articles WHERE slug = $1 AND locale = $2 AND status = 'published'`,
		slug, string(locale)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoArticle
	}
	if err != nil {
		return nil, okpay.Internal(err, "read article")
	}
	return a, nil
}

// List returns the published articles of locale (of category c unless
// it is ""), by title.
func (s *Service) List(ctx context.Context, locale i18n.Lang, c Category) ([]*Article, error) {
	if c == "" {
		return s.query(ctx, `SELECT `+articleCols+` FROM help_articles WHERE locale = $1 AND status = 'published' ORDER BY category, title`, string(locale))
	}
	return s.query(ctx, `SELECT `+articleCols+` FROM help_articles WHERE locale = $1 AND category = $2 AND status = 'published' ORDER BY title`,
		string(locale), string(c))
}

// All returns every article in every state (the editor's list), by slug
// and locale.
func (s *Service) All(ctx context.Context) ([]*Article, error) {
	return s.query(ctx, `SELECT `+articleCols+` FROM help_articles ORDER BY slug, locale`)
}

func (s *Service) query(ctx context.Context, q string, args ...any) ([]*Article, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, okpay.Internal(err, "list articles")
	}
	defer rows.Close()
	var out []*Article
	for rows.Next() {
		a, err := scanArticle(rows)
		if err != nil {
			return nil, okpay.Internal(err, "list articles")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list articles")
	}
	return out, nil
}

// Revisions lists article id's revisions, newest first.
func (s *Service) Revisions(ctx context.Context, id int64) ([]*Revision, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, article_id, number, title, keywords, category, body, author, note, created_at
		FROM help_revisions WHERE article_id = $1 ORDER BY number DESC`, id)
	if err != nil {
		return nil, okpay.Internal(err, "list revisions")
	}
	defer rows.Close()
	var out []*Revision
	for rows.Next() {
		var r Revision
		var cat string
		var c int64
		if err := rows.Scan(&r.ID, &r.ArticleID, &r.Number, &r.Title, &r.Keywords, &cat, &r.Body, &r.Author, &r.Note, &c); err != nil {
			return nil, okpay.Internal(err, "list revisions")
		}
		r.Category, r.CreatedAt = Category(cat), fromMicros(c)
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "list revisions")
	}
	return out, nil
}
