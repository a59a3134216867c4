package help

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func TestShippedArticles(t *testing.T) {
	all, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	bySlug := map[string][]i18n.Lang{}
	cats := map[Category]bool{}
	for _, in := range all {
		bySlug[in.Slug] = append(bySlug[in.Slug], in.Locale)
		cats[in.Category] = true
	}
	// Every subject in both languages.
	for slug, ls := range bySlug {
		if len(ls) != 2 {
			t.Errorf("%s exists in %v only", slug, ls)
		}
	}
	for _, want := range []string{"cant-log-in", "withdraw-money", "change-bank-card", "account-security", "account-stolen", "contact-us"} {
		if len(bySlug[want]) != 2 {
			t.Errorf("missing shipped article %s", want)
		}
	}
	for _, c := range Categories() {
		if !cats[c] {
			t.Errorf("no shipped article in category %s", c)
		}
	}
}

func TestLoadShippedIdempotentKeepsEdits(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, _ := newTestService(t, db)
		n, err := s.LoadShipped(ctx)
		all, _ := Shipped()
		if err != nil || n != len(all) {
			t.Fatalf("first load: %d %v (want %d)", n, err, len(all))
		}
		a, err := s.Published(ctx, "withdraw-money", i18n.En)
		if err != nil {
			t.Fatal(err)
		}
		in := Input{Slug: a.Slug, Locale: a.Locale, Category: a.Category, Title: "Withdrawing: our own words", Keywords: a.Keywords, Body: "Edited by staff.", Note: "rewrite"}
		if _, err := s.Update(ctx, 42, a.ID, in); err != nil {
			t.Fatal(err)
		}
		// Unpublish another one: a second load must not bring it back.
		b, _ := s.Published(ctx, "exchange-currency", i18n.ZhCN)
		if _, err := s.SetStatus(ctx, b.ID, false); err != nil {
			t.Fatal(err)
		}
		if n, err := s.LoadShipped(ctx); err != nil || n != 0 {
			t.Fatalf("second load: %d %v", n, err)
		}
		got, _ := s.Get(ctx, a.ID)
		if got.Title != "Withdrawing: our own words" || got.Body != "Edited by staff." || got.Status != StatusPublished {
			t.Fatalf("edit overwritten: %+v", got)
		}
		if _, err := s.Published(ctx, "exchange-currency", i18n.ZhCN); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("unpublished article is public: %v", err)
		}
		revs, err := s.Revisions(ctx, a.ID)
		if err != nil || len(revs) != 2 || revs[0].Number != 2 || revs[0].Author != 42 || revs[0].Note != "rewrite" ||
			revs[1].Author != 0 || revs[0].ID != got.RevisionID || !strings.Contains(revs[1].Body, "Withdraw") {
			t.Fatalf("revisions: %v %+v", err, revs)
		}
		// The index follows the edit and the unpublishing.
		res, _ := s.Search(ctx, "edited staff", i18n.En, 5)
		if len(res.Hits) == 0 || res.Hits[0].Article.ID != a.ID {
			t.Fatalf("search after edit: %+v", res.Hits)
		}
		res, _ = s.Search(ctx, "汇率", i18n.ZhCN, 5)
		for _, h := range res.Hits {
			if h.Article.ID == b.ID {
				t.Fatal("unpublished article still found")
			}
		}
	})
}

func TestDraftsAndValidation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, _ := newTestService(t, db)
		in := Input{Slug: "red-envelope", Locale: i18n.En, Category: CategoryTechnical, Title: "Red envelopes", Body: "Send a **red envelope**."}
		a, err := s.Create(ctx, 7, in)
		if err != nil || a.Status != StatusDraft {
			t.Fatalf("create: %+v %v", a, err)
		}
		if res, _ := s.Search(ctx, "envelope", i18n.En, 5); len(res.Hits) != 0 {
			t.Fatal("a draft is searchable")
		}
		if _, err := s.Published(ctx, "red-envelope", i18n.En); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("draft is public: %v", err)
		}
		if _, err := s.SetStatus(ctx, a.ID, true); err != nil {
			t.Fatal(err)
		}
		if res, _ := s.Search(ctx, "envelopes", i18n.En, 5); len(res.Hits) != 1 {
			t.Fatalf("published article not found: %+v", res.Hits)
		}
		// The same slug in the other language is another article; in the
		// same language it is taken.
		in.Locale = i18n.ZhCN
		if _, err := s.Create(ctx, 7, in); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, 7, in); okpay.ErrorCode(err) != ESlugTaken {
			t.Fatalf("duplicate slug: %v", err)
		}
		for _, bad := range []Input{
			{Slug: "Bad Slug", Locale: i18n.En, Category: CategoryAccount, Title: "x", Body: "x"},
			{Slug: "account", Locale: i18n.En, Category: CategoryAccount, Title: "x", Body: "x"},
			{Slug: "ok", Locale: "fr", Category: CategoryAccount, Title: "x", Body: "x"},
			{Slug: "ok", Locale: i18n.En, Category: "billing", Title: "x", Body: "x"},
			{Slug: "ok", Locale: i18n.En, Category: CategoryAccount, Title: "", Body: "x"},
			{Slug: "ok", Locale: i18n.En, Category: CategoryAccount, Title: "x", Body: " "},
		} {
			if _, err := s.Create(ctx, 7, bad); okpay.ErrorCode(err) != okpay.EInvalid {
				t.Errorf("%+v: %v", bad, err)
			}
		}
	})
}

func TestVote(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, clk := loaded(t, db)
		a, _ := s.Published(ctx, "cant-log-in", i18n.En)
		if err := s.Vote(ctx, a.ID, "v1", true); err != nil {
			t.Fatal(err)
		}
		if err := s.Vote(ctx, a.ID, "v2", true); err != nil {
			t.Fatal(err)
		}
		// v1 changes its mind: counted once, as no.
		if err := s.Vote(ctx, a.ID, "v1", false); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(ctx, a.ID)
		if got.HelpfulYes != 1 || got.HelpfulNo != 1 {
			t.Fatalf("counts %d/%d", got.HelpfulYes, got.HelpfulNo)
		}
		// The per-visitor limit: v3 votes on every article, then more.
		for i := range FeedbackPerHour {
			x, err := s.Create(ctx, 1, Input{Slug: fmt.Sprintf("extra-%d", i), Locale: i18n.En, Category: CategoryTechnical, Title: "Extra", Body: "Extra."})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetStatus(ctx, x.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		all, _ := s.List(ctx, i18n.En, "")
		n := 0
		var err error
		for i := 0; err == nil && i < 100; i++ {
			err = s.Vote(ctx, all[i%len(all)].ID, "v3", i%2 == 0)
			if err == nil {
				n++
			}
			clk.Advance(time.Second)
		}
		if okpay.ErrorCode(err) != EFeedbackLimited || n != FeedbackPerHour {
			t.Fatalf("limit after %d votes: %v", n, err)
		}
		clk.Advance(time.Hour)
		if err := s.Vote(ctx, a.ID, "v3", true); err != nil {
			t.Fatalf("after an hour: %v", err)
		}
		// Drafts and unknown articles take no votes.
		if _, err := s.SetStatus(ctx, a.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := s.Vote(ctx, a.ID, "v4", true); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("vote on a draft: %v", err)
		}
		if err := s.Vote(ctx, 999999, "v4", true); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("vote on nothing: %v", err)
		}
	})
}

func TestRelated(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, _ := loaded(t, db)
		a, _ := s.Published(ctx, "withdraw-money", i18n.ZhCN)
		rel, err := s.Related(ctx, a, 3)
		if err != nil || len(rel) != 3 {
			t.Fatalf("related: %v %d", err, len(rel))
		}
		if rel[0].Category != CategoryTransaction {
			t.Errorf("first related %s is not a transaction article", rel[0].Slug)
		}
		for _, r := range rel {
			if r.ID == a.ID || r.Locale != i18n.ZhCN {
				t.Errorf("related %+v", r)
			}
		}
	})
}

func TestRenderIsSafe(t *testing.T) {
	r := NewRenderer(Contacts{Email: "help@okpay.test", Phone: "+86 400"})
	md := "# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [ok](/help) <img src=x onerror=alert(1)>\n\nMail {support_email}, call {support_phone}.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	h := string(r.HTML(md))
	for _, bad := range []string{"<script", "javascript:", "onerror", "alert(1)</script>"} {
		if strings.Contains(h, bad) {
			t.Errorf("rendered HTML has %q: %s", bad, h)
		}
	}
	for _, want := range []string{"<h1", `href="/help"`, "help@okpay.test", "+86 400", "<table>"} {
		if !strings.Contains(h, want) {
			t.Errorf("rendered HTML lacks %q: %s", want, h)
		}
	}
	txt := r.Text("## Heading\n\nSome **bold** and [a link](/x).\n\n- one\n- two")
	if txt != "Heading\nSome bold and a link.\none\ntwo" {
		t.Errorf("text: %q", txt)
	}
}
