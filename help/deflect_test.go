package help

import (
	"context"
	"testing"
	"time"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// TestSuggest: a question being typed finds its article, in the other
// language when its own has none, and is never counted as a search that
// found nothing.
func TestSuggest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, _ := loaded(t, db)
		for _, c := range []struct {
			q    string
			l    i18n.Lang
			slug string
		}{{"我的提现到哪了", i18n.ZhCN, "withdrawal-review"}, {"提现", i18n.ZhCN, ""}, {"change my bank card", i18n.En, "change-bank-card"}} {
			res, err := s.Suggest(ctx, c.q, c.l, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hits) == 0 || len(res.Hits) > 3 {
				t.Fatalf("%s: %d hits", c.q, len(res.Hits))
			}
			found := c.slug == ""
			for _, h := range res.Hits {
				found = found || h.Article.Slug == c.slug
				if h.Article.Locale != c.l {
					t.Errorf("%s: hit in %s", c.q, h.Article.Locale)
				}
			}
			if !found {
				t.Errorf("%s: %s not among the suggestions", c.q, c.slug)
			}
		}
		res, err := s.Suggest(ctx, "xyzzy plugh", i18n.En, 3)
		if err != nil || len(res.Hits) != 0 {
			t.Fatalf("nonsense: %v %v", res, err)
		}
		if m, _ := s.Misses(ctx, 10); len(m) != 0 {
			t.Errorf("a suggestion counted as a miss: %v", m)
		}
	})
}

// TestDeflect: "This solved it" counts once per visitor, article and day,
// only on published articles, and the report lists the counts per
// article and day.
func TestDeflect(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, clk := loaded(t, db)
		a, err := s.Published(ctx, "withdrawal-review", i18n.ZhCN)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s.Published(ctx, "cant-log-in", i18n.En)
		for _, c := range []struct {
			id      int64
			visitor string
			fresh   bool
		}{{a.ID, "v1", true}, {a.ID, "v1", false}, {a.ID, "v2", true}, {b.ID, "v1", true}} {
			fresh, err := s.Deflect(ctx, c.id, c.visitor)
			if err != nil || fresh != c.fresh {
				t.Fatalf("deflect %d %s: %v %v", c.id, c.visitor, fresh, err)
			}
		}
		clk.Advance(24 * time.Hour)
		if fresh, err := s.Deflect(ctx, a.ID, "v1"); err != nil || !fresh {
			t.Fatalf("next day: %v %v", fresh, err)
		}
		if _, err := s.Deflect(ctx, 999999, "v1"); err == nil {
			t.Error("deflected by a missing article")
		}
		if _, err := s.SetStatus(ctx, b.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Deflect(ctx, b.ID, "v3"); err == nil {
			t.Error("deflected by a draft")
		}
		if _, err := s.Deflect(ctx, a.ID, ""); err == nil {
			t.Error("deflected without a visitor")
		}
		got, err := s.Deflections(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		want := []Deflection{
			{Day: "2026-11-27", ArticleID: a.ID, Slug: a.Slug, Locale: i18n.ZhCN, Title: a.Title, Count: 1},
			{Day: "2026-11-26", ArticleID: a.ID, Slug: a.Slug, Locale: i18n.ZhCN, Title: a.Title, Count: 2},
			{Day: "2026-11-26", ArticleID: b.ID, Slug: b.Slug, Locale: i18n.En, Title: b.Title, Count: 1},
		}
		if len(got) != len(want) {
			t.Fatalf("report %+v", got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
			}
		}
		if one, _ := s.Deflections(ctx, 1); len(one) != 1 {
			t.Errorf("today only: %+v", one)
		}
	})
}
