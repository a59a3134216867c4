package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/web"
)

// testCatalog loads the real catalogs once per test.
func testCatalog(t testing.TB) *i18n.Catalog {
	t.Helper()
	cat, err := i18n.New()
	if err != nil {
		t.Fatalf("i18n.New: %v", err)
	}
	return cat
}

// newHandler returns the page routes on a fresh mux, wrapped the way the
// program wires them.
func newHandler(t testing.TB) (http.Handler, *i18n.Catalog) {
	t.Helper()
	cat := testCatalog(t)
	s, err := web.New(web.Config{Catalog: cat, Logger: slog.New(slog.DiscardHandler), Version: "1.2.3-test"})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	return web.SecurityHeaders(web.CrossOrigin(mux)), cat
}

type reqOpt func(*http.Request)

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func cookie(c *http.Cookie) reqOpt {
	return func(r *http.Request) { r.AddCookie(c) }
}

func do(t testing.TB, h http.Handler, method, target string, body io.Reader, opts ...reqOpt) (*http.Response, string) {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func postLang(t testing.TB, h http.Handler, target string, form url.Values, opts ...reqOpt) (*http.Response, string) {
	t.Helper()
	opts = append([]reqOpt{header("Sec-Fetch-Site", "same-origin")}, opts...)
	return do(t, h, http.MethodPost, target, strings.NewReader(form.Encode()), opts...)
}

func TestNewRequiresCatalog(t *testing.T) {
	if _, err := web.New(web.Config{}); err == nil {
		t.Fatal("New without a catalog succeeded")
	}
}

func TestSecurityHeaders(t *testing.T) {
	h, _ := newHandler(t)
	want := map[string]string{
		"Content-Security-Policy":    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
		"X-Content-Type-Options":     "nosniff",
		"X-Frame-Options":            "DENY",
		"Referrer-Policy":            "same-origin",
		"Permissions-Policy":         "camera=(), microphone=(), geolocation=()",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	for _, target := range []string{"/", "/no/such/page", "/static/app.css"} {
		for _, scheme := range []string{"http", "https"} {
			res, _ := do(t, h, http.MethodGet, scheme+"://okpay.test"+target, nil)
			for k, v := range want {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s %s: %s = %q, want %q", scheme, target, k, got, v)
				}
			}
			hsts := res.Header.Get("Strict-Transport-Security")
			if scheme == "https" && hsts != "max-age=63072000; includeSubDomains" {
				t.Errorf("https %s: Strict-Transport-Security = %q", target, hsts)
			}
			if scheme == "http" && hsts != "" {
				t.Errorf("http %s: Strict-Transport-Security sent over plain HTTP: %q", target, hsts)
			}
		}
	}
	// Also on responses that CrossOrigin refuses.
	res, _ := do(t, h, http.MethodPost, "/lang", strings.NewReader("lang=en"), header("Sec-Fetch-Site", "cross-site"))
	if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("403 response lacks security headers: %v", res.Header)
	}
}

func TestHomeLanguages(t *testing.T) {
	h, cat := newHandler(t)
	tests := []struct {
		name string
		opts []reqOpt
		want i18n.Lang
	}{
		{"default", nil, i18n.En},
		{"accept en", []reqOpt{header("Accept-Language", "en-US,en;q=0.9")}, i18n.En},
		{"accept zh-CN", []reqOpt{header("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")}, i18n.ZhCN},
		{"accept zh-TW", []reqOpt{header("Accept-Language", "zh-TW")}, i18n.ZhCN},
		{"accept fr", []reqOpt{header("Accept-Language", "fr-FR")}, i18n.En},
		{"cookie beats header", []reqOpt{header("Accept-Language", "en"), cookie(&http.Cookie{Name: "lang", Value: "zh-CN"})}, i18n.ZhCN},
		{"cookie en beats zh header", []reqOpt{header("Accept-Language", "zh-CN"), cookie(&http.Cookie{Name: "lang", Value: "en"})}, i18n.En},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(t, h, http.MethodGet, "/", nil, tt.opts...)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cl := res.Header.Get("Content-Language"); cl != string(tt.want) {
				t.Errorf("Content-Language = %q, want %q", cl, tt.want)
			}
			if v := strings.Join(res.Header.Values("Vary"), ","); !strings.Contains(v, "Cookie") || !strings.Contains(v, "Accept-Language") {
				t.Errorf("Vary = %q", v)
			}
			if !strings.Contains(body, `<html lang="`+string(tt.want)+`">`) {
				t.Errorf("no <html lang=%q>", tt.want)
			}
			title := cat.T(tt.want, "home.title", nil)
			if !regexp.MustCompile(`data-testid="home-title">` + regexp.QuoteMeta(title) + `</h1>`).MatchString(body) {
				t.Errorf("home-title is not %q", title)
			}
			for _, id := range []string{"home.feature.balances.title", "home.feature.transfers.title",
				"home.feature.exchange.title", "home.feature.withdrawals.title",
				"home.support.chat.title", "home.support.email.title", "home.support.phone.title"} {
				if !strings.Contains(body, cat.T(tt.want, id, nil)) {
					t.Errorf("page lacks %s (%q)", id, cat.T(tt.want, id, nil))
				}
			}
			if !strings.Contains(body, "1.2.3-test") {
				t.Error("footer lacks the version")
			}
		})
	}
}

func TestHomeHead(t *testing.T) {
	h, _ := newHandler(t)
	res, body := do(t, h, http.MethodHead, "/", nil)
	if res.StatusCode != http.StatusOK || body != "" {
		t.Fatalf("HEAD /: status %d, %d bytes of body", res.StatusCode, len(body))
	}
}

func TestLangSwitchSetsCookieAndRedirects(t *testing.T) {
	h, cat := newHandler(t)
	for _, scheme := range []string{"http", "https"} {
		res, _ := postLang(t, h, scheme+"://okpay.test/lang", url.Values{"lang": {"zh-CN"}, "next": {"/?from=switch"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: status %d, want 303", scheme, res.StatusCode)
		}
		if loc := res.Header.Get("Location"); loc != "/?from=switch" {
			t.Errorf("%s: Location = %q", scheme, loc)
		}
		cks := res.Cookies()
		if len(cks) != 1 {
			t.Fatalf("%s: %d cookies, want 1", scheme, len(cks))
		}
		c := cks[0]
		if c.Name != "lang" || c.Value != "zh-CN" || c.Path != "/" || !c.HttpOnly ||
			c.SameSite != http.SameSiteLaxMode || c.MaxAge != 365*24*3600 {
			t.Errorf("%s: cookie = %s", scheme, res.Header.Get("Set-Cookie"))
		}
		if c.Secure != (scheme == "https") {
			t.Errorf("%s: cookie Secure = %v", scheme, c.Secure)
		}

		// The cookie now picks the language, whatever the header says.
		_, body := do(t, h, http.MethodGet, "/", nil, cookie(&http.Cookie{Name: c.Name, Value: c.Value}), header("Accept-Language", "en"))
		if !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, cat.T(i18n.ZhCN, "home.title", nil)) {
			t.Errorf("%s: page after switching is not Chinese", scheme)
		}
	}
}

func TestLangSwitchRefusesOpenRedirects(t *testing.T) {
	h, _ := newHandler(t)
	for _, next := range []string{
		"//evil.test", "https://evil.test", "http://evil.test/", "//evil.test/path",
		`/\evil.test`, `\\evil.test`, `\/evil.test`, "/\t/evil.test", "/\n/evil.test",
		"javascript:alert(1)", "evil.test", "", " /", "HTTPS://evil.test",
		"/path\\..\\..\\evil", "//", "///evil.test", "data:text/html,hi",
		"/" + strings.Repeat("a", 3000),
	} {
		res, _ := postLang(t, h, "/lang", url.Values{"lang": {"en"}, "next": {next}})
		if res.StatusCode != http.StatusSeeOther {
			t.Errorf("next=%q: status %d, want 303", next, res.StatusCode)
			continue
		}
		if loc := res.Header.Get("Location"); loc != "/" {
			t.Errorf("next=%q: Location = %q, want /", next, loc)
		}
	}
	for next, want := range map[string]string{
		"/":                   "/",
		"/help/articles?q=提现": "/help/articles?q=%e6%8f%90%e7%8e%b0",
		"/a/b#c":              "/a/b#c",
		"/a/../b":             "/b",
	} {
		res, _ := postLang(t, h, "/lang", url.Values{"lang": {"en"}, "next": {next}})
		if loc := res.Header.Get("Location"); loc != want {
			t.Errorf("next=%q: Location = %q, want %q", next, loc, want)
		}
	}
}

func TestLangSwitchRejectsBadInput(t *testing.T) {
	h, cat := newHandler(t)
	for _, lang := range []string{"", "fr", "zh", "zh-CN; Path=/", "en\r\nSet-Cookie: x=y"} {
		res, body := postLang(t, h, "/lang", url.Values{"lang": {lang}, "next": {"/"}}, header("Accept-Language", "zh-CN"))
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("lang=%q: status %d, want 400", lang, res.StatusCode)
		}
		if len(res.Cookies()) != 0 {
			t.Errorf("lang=%q: a cookie was set", lang)
		}
		if !strings.Contains(body, cat.T(i18n.ZhCN, "lang.invalid", nil)) {
			t.Errorf("lang=%q: the error page does not explain in Chinese", lang)
		}
	}
	// The value must come from the form body, not from the query string.
	res, _ := do(t, h, http.MethodPost, "/lang?lang=zh-CN", strings.NewReader(""), header("Sec-Fetch-Site", "same-origin"))
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("lang in query: status %d, want 400", res.StatusCode)
	}
	// An oversized body is refused.
	big := url.Values{"lang": {"en"}, "next": {"/" + strings.Repeat("x", 20000)}}
	res, _ = postLang(t, h, "/lang", big)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("huge body: status %d, want 400", res.StatusCode)
	}
}

func TestGetDoesNotChangeState(t *testing.T) {
	h, _ := newHandler(t)
	for _, target := range []string{"/", "/lang", "/lang?lang=zh-CN&next=/", "/?lang=zh-CN", "/static/app.css", "/nope"} {
		res, _ := do(t, h, http.MethodGet, target, nil)
		if len(res.Cookies()) != 0 {
			t.Errorf("GET %s set a cookie", target)
		}
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	h, _ := newHandler(t)
	form := url.Values{"lang": {"zh-CN"}, "next": {"/"}}.Encode()
	tests := []struct {
		name string
		opts []reqOpt
		want int
	}{
		{"sec-fetch-site cross-site", []reqOpt{header("Sec-Fetch-Site", "cross-site")}, http.StatusForbidden},
		{"sec-fetch-site same-site", []reqOpt{header("Sec-Fetch-Site", "same-site")}, http.StatusForbidden},
		{"foreign origin", []reqOpt{header("Origin", "https://evil.test")}, http.StatusForbidden},
		{"same origin", []reqOpt{header("Sec-Fetch-Site", "same-origin"), header("Origin", "http://example.com")}, http.StatusSeeOther},
		{"origin matches host", []reqOpt{header("Origin", "http://example.com")}, http.StatusSeeOther},
		{"user typed (none)", []reqOpt{header("Sec-Fetch-Site", "none")}, http.StatusSeeOther},
		{"no browser headers", nil, http.StatusSeeOther},
	}
	for _, tt := range tests {
		res, _ := do(t, h, http.MethodPost, "http://example.com/lang", strings.NewReader(form), tt.opts...)
		if res.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, res.StatusCode, tt.want)
		}
		if tt.want == http.StatusForbidden && len(res.Cookies()) != 0 {
			t.Errorf("%s: refused request still set a cookie", tt.name)
		}
	}
	// Cross-site GETs (links from other sites) still work.
	res, _ := do(t, h, http.MethodGet, "/", nil, header("Sec-Fetch-Site", "cross-site"))
	if res.StatusCode != http.StatusOK {
		t.Errorf("cross-site GET /: status %d", res.StatusCode)
	}
}

func TestNotFoundPage(t *testing.T) {
	h, cat := newHandler(t)
	for _, tt := range []struct {
		method, target, accept string
		lang                   i18n.Lang
	}{
		{http.MethodGet, "/no/such/page", "", i18n.En},
		{http.MethodGet, "/no/such/page?x=1", "zh-CN", i18n.ZhCN},
		{http.MethodPost, "/no/such/page", "", i18n.En},
		{http.MethodGet, "/lang", "", i18n.En},
		{http.MethodGet, "/static/", "", i18n.En},
		{http.MethodGet, "/static/nope.css", "", i18n.En},
		{http.MethodGet, "/static/icons/", "", i18n.En},
		{http.MethodGet, "/static/../go.mod", "", i18n.En},
		{http.MethodGet, "/index.html", "", i18n.En},
	} {
		res, body := do(t, h, tt.method, tt.target, nil, header("Accept-Language", tt.accept), header("Sec-Fetch-Site", "same-origin"))
		if res.StatusCode != http.StatusNotFound {
			// ServeMux answers paths with ".." with a redirect to the clean path.
			if strings.Contains(tt.target, "..") && res.StatusCode/100 == 3 &&
				res.Header.Get("Location") == "/go.mod" {
				continue
			}
			t.Errorf("%s %s: status %d, want 404", tt.method, tt.target, res.StatusCode)
			continue
		}
		if !strings.Contains(body, `<html lang="`+string(tt.lang)+`">`) {
			t.Errorf("%s %s: not in the layout or not in %s", tt.method, tt.target, tt.lang)
		}
		if !strings.Contains(body, cat.T(tt.lang, "notfound.title", nil)) {
			t.Errorf("%s %s: lacks the not-found title", tt.method, tt.target)
		}
		if res.Header.Get("Cache-Control") == "public, max-age=31536000, immutable" {
			t.Errorf("%s %s: a 404 is cached for a year", tt.method, tt.target)
		}
	}
	// The language switch on a 404 page returns to the same address.
	_, body := do(t, h, http.MethodGet, "/no/such/page?x=1", nil)
	if !strings.Contains(body, `name="next" value="/no/such/page?x=1"`) {
		t.Error("404 page: the language switch does not return to the page")
	}
}

func TestRegisterLeavesOtherRoutesAlone(t *testing.T) {
	cat := testCatalog(t)
	s, err := web.New(web.Config{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	// Patterns other packages register on the same mux must not conflict
	// (ServeMux panics on conflicts) nor be shadowed by the catch-all.
	for _, p := range []string{"/api/", "GET /healthz", "/readyz", "GET /metrics", "POST /api/v1/transfers", "GET /api/openapi.json"} {
		mux.Handle(p, other)
	}
	for _, target := range []string{"/api/v1/x", "/healthz", "/readyz", "/metrics", "/api/openapi.json"} {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != http.StatusTeapot {
			t.Errorf("GET %s: status %d, want the other handler", target, w.Code)
		}
	}
}

func TestStaticFiles(t *testing.T) {
	h, _ := newHandler(t)
	_, page := do(t, h, http.MethodGet, "/", nil)
	m := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the page does not link a versioned /static/app.css")
	}
	res, body := do(t, h, http.MethodGet, m[1], nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", m[1], res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if !strings.Contains(body, "--primary") {
		t.Error("app.css body looks wrong")
	}
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	res, _ = do(t, h, http.MethodGet, "/static/app.css", nil, header("If-None-Match", etag))
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
	}
	res, _ = do(t, h, http.MethodGet, "/static/favicon.svg", nil)
	if ct := res.Header.Get("Content-Type"); ct != "image/svg+xml" {
		t.Errorf("favicon Content-Type = %q", ct)
	}
	// Every static URL the pages use resolves.
	for _, u := range regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		target := strings.ReplaceAll(u[1], "&amp;", "&")
		if res, _ := do(t, h, http.MethodGet, target, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", target, res.StatusCode)
		}
	}
}

// pages renders every page in every language.
func pages(t *testing.T, h http.Handler) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range i18n.Langs() {
		for _, target := range []string{"/", "/no/such/page"} {
			_, body := do(t, h, http.MethodGet, target, nil, cookie(&http.Cookie{Name: "lang", Value: string(l)}))
			out[string(l)+" "+target] = body
		}
		_, body := postLang(t, h, "/lang", url.Values{"lang": {"xx"}}, cookie(&http.Cookie{Name: "lang", Value: string(l)}))
		out[string(l)+" POST /lang (400)"] = body
	}
	return out
}

func TestPagesHaveNoRawMessageIDs(t *testing.T) {
	h, cat := newHandler(t)
	ids := cat.IDs(i18n.En)
	// Any dotted lower-case word that looks like a message id, in text or
	// attributes ("app." is left out for the file name app.css; the exact
	// check above covers app.name and app.tagline).
	idLike := regexp.MustCompile(`\b(?:meta|a11y|nav|lang|footer|home|notfound|problem|error)\.[a-z0-9_.]+\b`)
	for name, body := range pages(t, h) {
		for _, id := range ids {
			if strings.Contains(body, id) {
				t.Errorf("%s: raw message id %q in the output", name, id)
			}
		}
		for _, m := range idLike.FindAllString(body, -1) {
			t.Errorf("%s: %q looks like an untranslated message id", name, m)
		}
	}
}

func TestPagesHaveNoInlineCodeOrForeignHosts(t *testing.T) {
	h, _ := newHandler(t)
	bad := map[string]*regexp.Regexp{
		"inline script":     regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`),
		"script":            regexp.MustCompile(`(?i)<script`),
		"style element":     regexp.MustCompile(`(?i)<style`),
		"style attribute":   regexp.MustCompile(`(?i)\sstyle=`),
		"event handler":     regexp.MustCompile(`(?i)\son[a-z]+=`),
		"javascript: URL":   regexp.MustCompile(`(?i)javascript:`),
		"external resource": regexp.MustCompile(`(?i)(?:src|href|action)="(?:https?:)?//`),
	}
	for name, body := range pages(t, h) {
		for what, re := range bad {
			if m := re.FindString(body); m != "" {
				t.Errorf("%s: %s: %q", name, what, m)
			}
		}
	}
}

func TestPagesAreAccessibleShells(t *testing.T) {
	h, _ := newHandler(t)
	for name, body := range pages(t, h) {
		for _, want := range []string{
			`<meta name="viewport" content="width=device-width, initial-scale=1">`,
			`<main id="main"`, `class="skip-link" href="#main"`,
			`<form class="lang-switch" method="post" action="/lang"`,
			`data-testid="lang-zh"`, `data-testid="lang-en"`, `type="hidden" name="next"`,
			`<nav class="site-nav" aria-label=`, `<footer`, "OKPay",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: lacks %s", name, want)
			}
		}
		if n := strings.Count(body, "<h1"); n != 1 {
			t.Errorf("%s: %d <h1>, want 1", name, n)
		}
		for _, img := range regexp.MustCompile(`<img [^>]*>`).FindAllString(body, -1) {
			if !strings.Contains(img, ` alt="`) {
				t.Errorf("%s: image without alt: %s", name, img)
			}
		}
	}
}
