package i18n

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
)

func newCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestCatalogsHaveTheSameIDs(t *testing.T) {
	c := newCatalog(t)
	en, zh := c.IDs(En), c.IDs(ZhCN)
	if len(en) == 0 {
		t.Fatal("en catalog is empty")
	}
	for _, id := range en {
		if _, ok := c.ids[ZhCN][id]; !ok {
			t.Errorf("%q is in en but missing from zh-CN", id)
		}
	}
	for _, id := range zh {
		if _, ok := c.ids[En][id]; !ok {
			t.Errorf("%q is in zh-CN but missing from en", id)
		}
	}
}

var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestMessagesAreTranslatedAndConsistent(t *testing.T) {
	c := newCatalog(t)
	// Ids whose text is meant to be the same in both languages.
	same := map[string]bool{"app.name": true, "lang.zh": true, "lang.en": true}
	han := regexp.MustCompile(`\p{Han}`)
	rawEn, rawZh := rawCatalog(t, En), rawCatalog(t, ZhCN)
	for _, id := range c.IDs(En) {
		en, _ := rawEn[id].(string)
		zh, _ := rawZh[id].(string)
		if en == "" || zh == "" {
			t.Errorf("%s: empty message (en %q, zh-CN %q)", id, en, zh)
			continue
		}
		if !slices.Equal(placeholders(en), placeholders(zh)) {
			t.Errorf("%s: placeholders differ: en %v, zh-CN %v", id, placeholders(en), placeholders(zh))
		}
		if same[id] {
			continue
		}
		if en == zh {
			t.Errorf("%s: zh-CN text is the English text %q", id, en)
		}
		if !han.MatchString(zh) {
			t.Errorf("%s: zh-CN text %q has no Chinese characters", id, zh)
		}
	}
}

// rawCatalog returns the raw messages of l, placeholders not filled in.
func rawCatalog(t *testing.T, l Lang) map[string]any {
	t.Helper()
	files, err := localeFiles(localeFS, l)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{}
	for _, f := range files {
		b, err := localeFS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var part map[string]any
		if err := toml.Unmarshal(b, &part); err != nil {
			t.Fatal(err)
		}
		for k, v := range part {
			raw[k] = v
		}
	}
	return raw
}

var problemCodes = []string{
	"invalid_request", "validation_failed", "unauthorized", "forbidden", "not_found",
	"method_not_allowed", "conflict", "insufficient_funds", "idempotency_key_required",
	"idempotency_key_reused", "idempotency_request_in_flight", "pending_already_resolved",
	"pending_expired", "exceeds_pending_amount", "reference_conflict", "account_not_found",
	"currency_mismatch", "unknown_currency", "invalid_amount", "too_many_decimals",
	"amount_overflow", "request_too_large", "unsupported_media_type", "rate_limited",
	"unavailable", "internal_error",
}

func TestProblemMessagesExist(t *testing.T) {
	c := newCatalog(t)
	for _, code := range problemCodes {
		for _, part := range []string{"title", "detail"} {
			id := "problem." + code + "." + part
			if !c.Has(id) {
				t.Errorf("missing %s", id)
			}
		}
	}
}

func TestT(t *testing.T) {
	c := newCatalog(t)
	tests := []struct {
		lang Lang
		id   string
		data map[string]any
		want string
	}{
		{En, "problem.insufficient_funds.title", nil, "Insufficient funds"},
		{ZhCN, "problem.insufficient_funds.title", nil, "余额不足"},
		{En, "footer.version", map[string]any{"Version": "1.2.3"}, "Version 1.2.3"},
		{ZhCN, "footer.version", map[string]any{"Version": "1.2.3"}, "版本 1.2.3"},
		{"fr", "problem.not_found.title", nil, "Not found"},
		{"", "problem.not_found.title", nil, "Not found"},
		{En, "no.such.message", nil, "no.such.message"},
		{ZhCN, "no.such.message", nil, "no.such.message"},
	}
	for _, tt := range tests {
		if got := c.T(tt.lang, tt.id, tt.data); got != tt.want {
			t.Errorf("T(%q, %q) = %q, want %q", tt.lang, tt.id, got, tt.want)
		}
	}
}

func TestHas(t *testing.T) {
	c := newCatalog(t)
	if !c.Has("home.title") {
		t.Error(`Has("home.title") = false`)
	}
	if c.Has("home.nope") {
		t.Error(`Has("home.nope") = true`)
	}
}

func TestMissingInOneLanguageReturnsID(t *testing.T) {
	fsys := fstest.MapFS{
		"locales/en.toml":    {Data: []byte(`"a" = "A"` + "\n" + `"b" = "B"`)},
		"locales/zh-CN.toml": {Data: []byte(`"a" = "甲"`)},
	}
	c, err := newFromFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.T(ZhCN, "b", nil); got != "b" {
		t.Errorf("T(zh-CN, b) = %q, want the id (no silent English fallback)", got)
	}
	if c.Has("b") {
		t.Error(`Has("b") = true although zh-CN lacks it`)
	}
	if got := c.T(ZhCN, "a", nil); got != "甲" {
		t.Errorf("T(zh-CN, a) = %q", got)
	}
}

func TestNewFailsOnBrokenCatalog(t *testing.T) {
	fsys := fstest.MapFS{
		"locales/en.toml":    {Data: []byte(`"a" = `)},
		"locales/zh-CN.toml": {Data: []byte(`"a" = "甲"`)},
	}
	if _, err := newFromFS(fsys); err == nil {
		t.Fatal("newFromFS accepted a broken TOML file")
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name   string
		cookie string // "" = no cookie
		accept string
		want   Lang
	}{
		{"nothing", "", "", En},
		{"cookie zh beats header en", "zh-CN", "en-US,en;q=0.9", ZhCN},
		{"cookie en beats header zh", "en", "zh-CN,zh;q=0.9", En},
		{"cookie any case", "ZH-cn", "", ZhCN},
		{"bad cookie ignored", "fr", "zh-CN", ZhCN},
		{"empty cookie ignored", "\"\"", "zh", ZhCN},
		{"zh-CN", "", "zh-CN", ZhCN},
		{"zh", "", "zh", ZhCN},
		{"zh-Hans", "", "zh-Hans", ZhCN},
		{"zh-Hans-CN", "", "zh-Hans-CN", ZhCN},
		{"zh-SG", "", "zh-SG", ZhCN},
		{"zh-TW maps to zh-CN", "", "zh-TW", ZhCN},
		{"zh-HK maps to zh-CN", "", "zh-HK", ZhCN},
		{"zh-Hant maps to zh-CN", "", "zh-Hant", ZhCN},
		{"zh-TW before en", "", "zh-TW,en;q=0.8", ZhCN},
		{"en-US", "", "en-US", En},
		{"en-GB", "", "en-GB,en;q=0.9", En},
		{"fr", "", "fr", En},
		{"fr then zh", "", "fr-FR,fr;q=0.9,zh;q=0.5", ZhCN},
		{"q-values: zh preferred", "", "en;q=0.5,zh-CN;q=0.9", ZhCN},
		{"q-values: en preferred", "", "zh-CN;q=0.4,en;q=0.8", En},
		{"q=0 refuses zh", "", "zh-CN;q=0,fr", En},
		{"wildcard", "", "*", En},
		{"malformed", "", "\x00;;;===", En},
		{"malformed q", "", "zh-CN;q=banana", En},
		{"garbage tag", "", "this-is-not-a-language-tag-at-all", En},
		{"very long", "", "zh-CN" + string(make([]byte, 2000)), En},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: CookieName, Value: tt.cookie, Quoted: tt.cookie == "\"\""})
			}
			if tt.accept != "" {
				r.Header.Set("Accept-Language", tt.accept)
			}
			if got := Negotiate(r); got != tt.want {
				t.Errorf("Negotiate(cookie %q, Accept-Language %q) = %q, want %q", tt.cookie, tt.accept, got, tt.want)
			}
		})
	}
}

func TestParseLang(t *testing.T) {
	for in, want := range map[string]Lang{"zh-CN": ZhCN, "zh-cn": ZhCN, "en": En, "EN": En} {
		if got, ok := ParseLang(in); !ok || got != want {
			t.Errorf("ParseLang(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "zh", "en-US", "fr", "zh-CN ", "../en"} {
		if got, ok := ParseLang(in); ok {
			t.Errorf("ParseLang(%q) = %q, true; want false", in, got)
		}
	}
}

func TestLangTag(t *testing.T) {
	if got := ZhCN.Tag().String(); got != "zh-Hans" {
		t.Errorf("ZhCN.Tag() = %s", got)
	}
	if got := En.Tag().String(); got != "en" {
		t.Errorf("En.Tag() = %s", got)
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"zh-CN", "en-US,en;q=0.9", "fr;q=0.2,zh-TW", "*", ";q=", "zh-CN;q=0"} {
		f.Add(s, "en")
	}
	f.Fuzz(func(t *testing.T, accept, cookie string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Language", accept)
		r.Header.Set("Cookie", CookieName+"="+cookie)
		if got := Negotiate(r); got != En && got != ZhCN {
			t.Fatalf("Negotiate = %q", got)
		}
	})
}

// TestPlainMessagesRenderAsTemplates checks T's template-free path against
// go-i18n's text/template rendering for every message it takes, with
// strings, integers, other values, a missing field and a nil one.
func TestPlainMessagesRenderAsTemplates(t *testing.T) {
	c := newCatalog(t)
	taken := 0
	for _, l := range Langs() {
		for _, id := range c.IDs(l) {
			p, ok := c.plain[l][id]
			if !ok {
				continue
			}
			taken++
			datas := []map[string]any{{}, {}, {}}
			for i, f := range p.fields {
				datas[0][f] = "<" + f + "> & 1"
				datas[1][f] = i * 1000
				datas[2][f] = []any{int64(-7), 2.5, true}[i%3]
			}
			if len(p.fields) > 0 {
				missing, null := map[string]any{}, map[string]any{}
				for _, f := range p.fields[1:] {
					missing[f], null[f] = "x", "x"
				}
				null[p.fields[0]] = nil
				datas = append(datas, missing, null)
			}
			for _, data := range datas {
				want, err := c.localizers[l].Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data})
				if err != nil {
					t.Fatalf("%s %s: %v", l, id, err)
				}
				if got := c.T(l, id, data); got != want {
					t.Errorf("T(%s, %s, %v) = %q, text/template renders %q", l, id, data, got, want)
				}
			}
		}
	}
	// Most messages are plain; the plural and conditional ones are not.
	if total := len(c.IDs(En)) + len(c.IDs(ZhCN)); taken < total*9/10 || taken == total {
		t.Fatalf("%d of %d messages take the plain path", taken, total)
	}
}

func TestSplitPlain(t *testing.T) {
	for text, want := range map[string]bool{
		"Hello":                 true,
		"Hi {{.Name}}, {{.N}}!": true,
		"{{.A}}{{.B}}":          true,
		"{{if .A}}x{{end}}":     false,
		"{{ .A }}":              false,
		"{{- .A}}":              false,
		"{{.A.B}}":              false,
		"{{.}}":                 false,
		"a }} b":                false,
		"a {{ b":                false,
		"{{.A}} }}":             false,
	} {
		if _, got := splitPlain(&goi18n.Message{ID: "x", Other: text}); got != want {
			t.Errorf("splitPlain(%q) = %v, want %v", text, got, want)
		}
	}
	if _, ok := splitPlain(&goi18n.Message{ID: "x", One: "one {{.N}}", Other: "{{.N}}"}); ok {
		t.Error("a message with plural forms took the plain path")
	}
}

// BenchmarkT compares T's plain path with go-i18n's text/template
// rendering of the same message (what T did for every message before).
func BenchmarkT(b *testing.B) {
	c, err := New()
	if err != nil {
		b.Fatal(err)
	}
	const id = "footer.version"
	data := map[string]any{"Version": "1.2.3"}
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			c.T(ZhCN, id, data)
		}
	})
	b.Run("template", func(b *testing.B) {
		for b.Loop() {
			c.localizers[ZhCN].Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data})
		}
	})
}
