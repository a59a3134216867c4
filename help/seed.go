package help

import (
	"bufio"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
)

// The articles OKPay ships: articles/<locale>/<slug>.md, each starting
// with a header of "key: value" lines (title, category, keywords) ended
// by a line "---", then the Markdown body.
//
//go:embed articles
var shipped embed.FS

// Shipped returns the articles OKPay ships, by locale then slug.
func Shipped() ([]Input, error) {
	var out []Input
	for _, l := range i18n.Langs() {
		files, err := fs.Glob(shipped, "articles/"+string(l)+"/*.md")
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := shipped.ReadFile(f)
			if err != nil {
				return nil, err
			}
			in, err := parseShipped(string(b))
			if err != nil {
				return nil, fmt.Errorf("help: %s: %w", f, err)
			}
			in.Slug, in.Locale = strings.TrimSuffix(path.Base(f), ".md"), l
			if _, err := cleanInput(in); err != nil {
				return nil, fmt.Errorf("help: %s: %w", f, err)
			}
			out = append(out, in)
		}
	}
	return out, nil
}

func parseShipped(s string) (Input, error) {
	var in Input
	sc := bufio.NewScanner(strings.NewReader(s))
	n := 0
	for sc.Scan() {
		line := sc.Text()
		n += len(line) + 1
		if line == "---" {
			in.Body = strings.TrimSpace(s[min(n, len(s)):])
			return in, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return in, fmt.Errorf("header line %q has no ':'", line)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "title":
			in.Title = v
		case "category":
			in.Category = Category(v)
		case "keywords":
			in.Keywords = v
		default:
			return in, fmt.Errorf("unknown header %q", k)
		}
	}
	return in, fmt.Errorf("no '---' line after the header")
}

// LoadShipped adds, published, every shipped article whose slug and
// locale the database does not have yet, and reports how many it added.
// It never changes an existing article, so staff edits (and articles
// staff unpublished) stay as they are; running it again adds nothing.
func (s *Service) LoadShipped(ctx context.Context) (int, error) {
	all, err := Shipped()
	if err != nil {
		return 0, err
	}
	added := 0
	for _, in := range all {
		in.Note = "Shipped with OKPay"
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM help_articles WHERE slug = $1 AND locale = $2`, in.Slug, string(in.Locale)).Scan(&n); err != nil {
				return okpay.Internal(err, "look up article")
			}
			if n > 0 {
				return errExists
			}
			_, err := s.create(ctx, tx, 0, in, true)
			return err
		})
		switch {
		case errors.Is(err, errExists):
		case err != nil && okpay.ErrorCode(err) == ESlugTaken:
			// Another node loaded it at the same time.
		case err != nil:
			return added, err
		default:
			added++
		}
	}
	return added, nil
}

var errExists = errors.New("help: article exists")
