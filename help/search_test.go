package help

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// searchCases: a query, the language of the page it is typed on and the
// slug of the article that must come first. Written for this test: the
// words customers use, not the articles' titles.
var searchCases = []struct {
	q    string
	lang i18n.Lang
	want string
}{
	// English.
	{"reset password", i18n.En, "cant-log-in"},
	{"I forgot my password", i18n.En, "cant-log-in"},
	{"can't log in", i18n.En, "cant-log-in"},
	{"sms code not arriving", i18n.En, "cant-log-in"},
	{"sign-in blocked for 15 minutes", i18n.En, "cant-log-in"},
	{"how do I withdraw money", i18n.En, "withdraw-money"},
	{"withdrawing to my bank", i18n.En, "withdraw-money"},
	{"cash out", i18n.En, "withdraw-money"},
	{"where is my withdrawal", i18n.En, "withdrawal-review"},
	{"withdrawal rejected", i18n.En, "withdrawal-review"},
	{"why was my withdrawal sent to review", i18n.En, "withdrawal-review"},
	{"withdrawal fees", i18n.En, "fees-and-limits"},
	{"daily limit", i18n.En, "fees-and-limits"},
	{"monthly limits", i18n.En, "fees-and-limits"},
	{"change my bank card", i18n.En, "change-bank-card"},
	{"remove old card", i18n.En, "change-bank-card"},
	{"verify new card", i18n.En, "change-bank-card"},
	{"two-step verification", i18n.En, "account-security"},
	{"passkey", i18n.En, "account-security"},
	{"is my account safe", i18n.En, "account-security"},
	{"account hacked", i18n.En, "account-stolen"},
	{"someone stole my account", i18n.En, "account-stolen"},
	{"unauthorized payments freeze", i18n.En, "account-stolen"},
	{"exchange rate", i18n.En, "exchange-currency"},
	{"convert USD to EUR", i18n.En, "exchange-currency"},
	{"talk to a human", i18n.En, "contact-us"},
	{"support phone number", i18n.En, "contact-us"},
	{"EMAIL SUPPORT", i18n.En, "contact-us"},
	// Chinese.
	{"无法登录", i18n.ZhCN, "cant-log-in"},
	{"忘记密码", i18n.ZhCN, "cant-log-in"},
	{"收不到验证码", i18n.ZhCN, "cant-log-in"},
	{"如何提现", i18n.ZhCN, "withdraw-money"},
	{"提现到银行卡要多久", i18n.ZhCN, "withdraw-money"},
	{"我的提现到哪了", i18n.ZhCN, "withdrawal-review"},
	{"提现被拒绝", i18n.ZhCN, "withdrawal-review"},
	{"提现 手续费", i18n.ZhCN, "fees-and-limits"},
	{"每日限额", i18n.ZhCN, "fees-and-limits"},
	{"换银行卡", i18n.ZhCN, "change-bank-card"},
	{"解绑银行卡", i18n.ZhCN, "change-bank-card"},
	{"两步验证", i18n.ZhCN, "account-security"},
	{"账户安全吗", i18n.ZhCN, "account-security"},
	{"账户被盗", i18n.ZhCN, "account-stolen"},
	{"盗号了怎么办", i18n.ZhCN, "account-stolen"},
	{"汇率", i18n.ZhCN, "exchange-currency"},
	{"人民币换美元", i18n.ZhCN, "exchange-currency"},
	{"人工客服", i18n.ZhCN, "contact-us"},
	{"客服电话", i18n.ZhCN, "contact-us"},
	{"盗", i18n.ZhCN, "account-stolen"},
	// Mixed, full-width and case.
	{"银行卡 verify", i18n.ZhCN, "change-bank-card"},
	{"passkey 通行密钥", i18n.ZhCN, "account-security"},
	{"SMS 验证码", i18n.ZhCN, "cant-log-in"},
	{"ＲＥＳＥＴ ＰＡＳＳＷＯＲＤ", i18n.En, "cant-log-in"},
	// A query in the other language than the page falls back to it.
	{"提现审核", i18n.En, "withdrawal-review"},
	{"stolen account", i18n.ZhCN, "account-stolen"},
}

func TestSearchTable(t *testing.T) {
	if len(searchCases) < 40 {
		t.Fatalf("only %d cases", len(searchCases))
	}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := loaded(t, db)
		ctx := context.Background()
		failed := 0
		for _, c := range searchCases {
			res, err := s.Search(ctx, c.q, c.lang, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hits) == 0 {
				t.Errorf("%q (%s): no hits, want %s", c.q, c.lang, c.want)
				failed++
				continue
			}
			if got := res.Hits[0].Article.Slug; got != c.want {
				var top []string
				for _, h := range res.Hits {
					top = append(top, h.Article.Slug)
				}
				t.Errorf("%q (%s): top %v, want %s first", c.q, c.lang, top, c.want)
				failed++
			}
		}
		t.Logf("%d of %d queries ranked the expected article first", len(searchCases)-failed, len(searchCases))
	})
}

func TestSearchSnippetAndMisses(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := loaded(t, db)
		ctx := context.Background()
		res, err := s.Search(ctx, "提现 手续费", i18n.ZhCN, 5)
		if err != nil || len(res.Hits) == 0 {
			t.Fatalf("search: %v %v", res, err)
		}
		sn := string(res.Hits[0].Snippet)
		if !strings.Contains(sn, "<mark>手续费</mark>") && !strings.Contains(sn, "<mark>提现</mark>") {
			t.Errorf("snippet without marks: %s", sn)
		}
		if res.Locale != i18n.ZhCN {
			t.Errorf("locale %s", res.Locale)
		}
		// Nothing found: counted, by normalised query.
		for _, q := range []string{"Bitcoin mining", "bitcoin   MINING", "比特币挖矿"} {
			res, err := s.Search(ctx, q, i18n.En, 5)
			if err != nil || len(res.Hits) != 0 {
				t.Fatalf("%q: %v %v", q, res, err)
			}
		}
		// A found query is not a miss; an empty one is ignored.
		if _, err := s.Search(ctx, "withdraw", i18n.En, 5); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Search(ctx, "   ", i18n.En, 5); err != nil {
			t.Fatal(err)
		}
		misses, err := s.Misses(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(misses) != 2 || misses[0].Query != "bitcoin mining" || misses[0].Count != 2 || misses[1].Query != "比特币挖矿" || misses[1].Count != 1 {
			t.Fatalf("misses: %+v", misses)
		}
	})
}

func TestHighlightEscapes(t *testing.T) {
	got := string(Highlight(`<script>alert(1)</script> withdraw & 提现`, QueryTerms("withdrawal 提现"), 0))
	want := `&lt;script&gt;alert(1)&lt;/script&gt; <mark>withdraw</mark> &amp; <mark>提现</mark>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	long := strings.Repeat("padding words here. ", 50) + "the refund arrives " + strings.Repeat("more filler text. ", 50)
	sn := string(Highlight(long, QueryTerms("refund"), 120))
	if !strings.HasPrefix(sn, "…") || !strings.HasSuffix(sn, "…") || !strings.Contains(sn, "<mark>refund</mark>") || len(sn) > 200 {
		t.Fatalf("snippet: %q", sn)
	}
}

// TestSearchTiers: the articles whose title or keywords hold every term
// come first, then those holding every term anywhere; those holding only
// some terms are listed only when none holds them all, again title and
// keywords first. The index (and the text a snippet is cut from) follows
// an edit, and an unpublished article leaves it.
func TestSearchTiers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s, _ := newTestService(t, db)
		ctx := context.Background()
		ids := map[string]int64{}
		add := func(slug, title, kw, body string) {
			t.Helper()
			a, err := s.Create(ctx, 0, Input{Slug: slug, Locale: i18n.En, Category: Categories()[0], Title: title, Keywords: kw, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetStatus(ctx, a.ID, true); err != nil {
				t.Fatal(err)
			}
			ids[slug] = a.ID
		}
		// "body-all" says refund and delay more often than any other,
		// but only in its body.
		add("head-all", "Refund delay", "", "What to do when money is late.")
		add("body-all", "Payments", "", "A refund delay, refund delay, refund delay: each refund has a delay.")
		add("head-one", "Refund times", "", "Money comes back in days.")
		add("body-one", "Cards", "", "A card refund takes days. Also a card delay and a card refund.")
		add("other", "Passwords", "", "Reset it on the sign-in page.")
		slugs := func(q string) []string {
			t.Helper()
			res, err := s.Search(ctx, q, i18n.En, 10)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, h := range res.Hits {
				out = append(out, h.Article.Slug)
			}
			return out
		}
		// eq checks the hits of q tier by tier: each of want is the set of
		// articles one tier lists, in order (the engines rank differently
		// within a tier: bm25 weighs rare words more, ts_rank does not).
		eq := func(q string, want ...string) {
			t.Helper()
			got := slugs(q)
			var tiers []string
			for k, w := range want {
				n := len(strings.Fields(w))
				if len(got) < n {
					t.Errorf("%q: %v, want the tiers %q", q, slugs(q), want)
					return
				}
				tier := slices.Clone(got[:n])
				slices.Sort(tier)
				tiers, got = append(tiers, strings.Join(tier, " ")), got[n:]
				if tiers[k] != w {
					t.Errorf("%q: %v, want the tiers %q", q, slugs(q), want)
					return
				}
			}
			if len(got) > 0 {
				t.Errorf("%q: %v, want the tiers %q", q, slugs(q), want)
			}
		}
		eq("refund delay", "head-all", "body-all body-one")
		eq("refund", "head-all head-one", "body-all body-one")
		// No article holds both: those holding one, title first.
		eq("refund password", "head-all head-one other", "body-all body-one")

		// An edit moves "head-all" to the body tier and its snippet
		// shows the new text.
		in := Input{Slug: "head-all", Locale: i18n.En, Category: Categories()[0], Title: "Late money", Body: "A refund delay happens on weekends."}
		if _, err := s.Update(ctx, 0, ids["head-all"], in); err != nil {
			t.Fatal(err)
		}
		eq("refund delay", "body-all body-one head-all")
		res, err := s.Search(ctx, "weekends", i18n.En, 10)
		if err != nil || len(res.Hits) != 1 || !strings.Contains(string(res.Hits[0].Snippet), "<mark>weekends</mark>") {
			t.Fatalf("snippet after the edit: %+v %v", res, err)
		}
		if _, err := s.SetStatus(ctx, ids["body-all"], false); err != nil {
			t.Fatal(err)
		}
		eq("refund delay", "body-one head-all")
	})
}
