package help

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/okpay/okpay/i18n"
)

func TestStem(t *testing.T) {
	for w, want := range map[string]string{
		"withdrawals": "withdraw", "withdrawing": "withdraw", "withdrawal": "withdraw", "withdraw": "withdraw",
		"caresses": "caress", "ponies": "poni", "cats": "cat", "agreed": "agre", "plastered": "plaster",
		"motoring": "motor", "hopping": "hop", "filing": "file", "happy": "happi", "relational": "relat",
		"conditional": "condit", "generalization": "gener", "hopeful": "hope", "goodness": "good",
		"adjustment": "adjust", "verify": "verifi", "verification": "verif", "verified": "verifi",
		"fees": "fee", "limits": "limit", "passwords": "password", "controlling": "control", "rate": "rate",
		"go": "go", "über": "über",
	} {
		if got := Stem(w); got != want {
			t.Errorf("Stem(%q) = %q, want %q", w, got, want)
		}
	}
}

func TestTokens(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"提现手续费", []string{"提现", "现手", "手续", "续费"}},
		{"卡", []string{"卡"}},
		{"银行卡 verify", []string{"银行", "行卡", "verifi"}},
		{"How do I reset my Password?", []string{"reset", "password"}},
		{"Ｌｏｇｉｎ", []string{"login"}},
		{"can't log-in", []string{"log"}},
		{"我的提现到哪了", []string{"提现", "现到", "到哪"}},
		{"OKPay2026 提现", []string{"okpay2026", "提现"}},
		{"", nil},
		{"!!! ???", nil},
	}
	for _, c := range cases {
		if got := QueryTerms(c.in); !slices.Equal(got, c.want) {
			t.Errorf("QueryTerms(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Documents also index each Chinese character.
	var doc []string
	for _, tk := range DocumentTokens("提现卡") {
		doc = append(doc, tk.Term)
	}
	if want := []string{"提", "现", "卡", "提现", "现卡"}; !slices.Equal(doc, want) {
		t.Errorf("DocumentTokens = %q, want %q", doc, want)
	}
}

func FuzzQueryTokens(f *testing.F) {
	for _, s := range []string{"提现 手续费", "reset password", "银行卡 verify", "ＲＥＳＥＴ", "can't", "a'b'c", "\xff\xfe提", "", "x" + strings.Repeat("很", 100), "é́́ café"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		toks := QueryTokens(q)
		if len(toks) > maxQueryTerms {
			t.Fatalf("%d terms", len(toks))
		}
		seen := map[string]bool{}
		for _, tk := range toks {
			if tk.Term == "" || !utf8.ValidString(tk.Term) || len(tk.Term) > maxTokenBytes || seen[tk.Term] {
				t.Fatalf("bad term %q in %q", tk.Term, q)
			}
			seen[tk.Term] = true
			if tk.Start < 0 || tk.End > len(q) || tk.Start >= tk.End {
				t.Fatalf("bad offsets %+v for %q", tk, q)
			}
			// The index form is plain ASCII letters and digits.
			for _, l := range i18n.Langs() {
				it := indexTerm(l, tk.Term)
				for i := 0; i < len(it); i++ {
					if c := it[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
						t.Fatalf("index term %q of %q", it, tk.Term)
					}
				}
			}
		}
		// Highlighting never lets markup through.
		h := string(Highlight(q, QueryTerms(q), 50))
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(h, "<mark>", ""), "</mark>", ""), "<") {
			t.Fatalf("unescaped markup in %q", h)
		}
	})
}
