package web_test

import (
	"bytes"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
)

// The exchange-rate page of the staff console over the real stack: the
// staff console of staff_test.go and, on the same database and clock, the
// rate service (package fx).

type fxEnv struct {
	*staffEnv
	rates *fx.Service
}

func newFXEnv(t *testing.T) *fxEnv {
	t.Helper()
	e := &fxEnv{staffEnv: newStaffEnv(t, agent.Config{})}
	gen, err := ids.NewSnowflake(2, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	e.rates, err = fx.New(e.db, e.clock, gen, fx.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnableFXAdmin(e.rates); err != nil {
		t.Fatal(err)
	}
	return e
}

// upload posts a multipart form with a file, as a browser's upload does.
func (c *client) upload(target string, fields map[string]string, fileField, fileName string, content []byte) *response {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if fileField != "" {
		fw, err := mw.CreateFormFile(fileField, fileName)
		if err != nil {
			c.t.Fatal(err)
		}
		fw.Write(content)
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, target, &body)
	r.RemoteAddr = c.ip + ":40000"
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.Header.Set("Accept-Language", c.lang)
	r.Header.Set("User-Agent", c.ua)
	for _, ck := range c.cookies {
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	res := w.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return &response{Response: res, body: string(b)}
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var fxRateItemRE = regexp.MustCompile(`(?s)<tr data-testid="fx-rate" data-pair="([A-Z]{3}/[A-Z]{3})" data-source="([a-z]+)" data-stale="(yes|no)">.*?</tr>`)

// fxRows returns the rates listed on the page: pair → "source stale".
func fxRows(body string) map[string]string {
	out := map[string]string{}
	for _, m := range fxRateItemRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2] + " " + m[3]
	}
	return out
}

func (e *fxEnv) count(t *testing.T, q string) int {
	t.Helper()
	var n int
	if err := e.db.Read.QueryRowContext(e.ctx, q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStaffFXPage: a risk reviewer uploads the ECB's daily file (the
// rates show with their source, and as stale once older than the
// service's MaxAge), sets a rate by hand with a reason (it shows as set by
// them, fresh, and the change is in the audit log with the rate it
// replaced), and is refused — with nothing stored — without a reason,
// with a malformed rate, with a file that is not an ECB document, with
// no file and with one larger than the form limit.
func TestStaffFXPage(t *testing.T) {
	t.Parallel()
	e := newFXEnv(t)
	risk := e.newMember(t, agent.RoleRisk)

	home := risk.c.get("/staff/")
	wantContains(t, home.body, `data-testid="nav-staff-fx"`, `data-perm="fx:manage"`)
	page := risk.c.get("/staff/fx")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page.body, `data-testid="fx-empty"`, `enctype="multipart/form-data"`)

	// The ECB's daily file (dated 2026-01-09; the clock is in November).
	daily := readFixture(t, "../fx/testdata/eurofxref-daily.xml")
	res := risk.c.upload("/staff/fx/ecb", map[string]string{"upload_reason": "morning feed"}, "file", "eurofxref-daily.xml", daily)
	wantRedirect(t, res, "/staff/fx?done=imported&inserted=")
	loc := res.Header.Get("Location")
	page = risk.c.get(loc)
	wantStatus(t, page, http.StatusOK)
	q, _ := url.ParseQuery(loc[strings.Index(loc, "?")+1:])
	wantContains(t, page.body, html.EscapeString(e.text(i18n.En, "fxadmin.notice.imported", "Inserted", q.Get("inserted"), "Unchanged", "0", "Skipped", q.Get("skipped"))))
	rows := fxRows(page.body)
	if rows["EUR/CNY"] != "ecb yes" || rows["EUR/USD"] != "ecb yes" || len(rows) < 20 {
		t.Fatalf("rates after the upload: %v", rows)
	}
	wantContains(t, page.body, `data-testid="fx-stale-count"`, "1 EUR = 1.1658 USD")
	// The same file again stores nothing.
	res = risk.c.upload("/staff/fx/ecb", nil, "file", "eurofxref-daily.xml", daily)
	wantRedirect(t, res, "/staff/fx?done=imported&inserted=0&unchanged="+q.Get("inserted"))
	if es := e.auditOf(t, "fx:ecb"); len(es) != 1 || es[0].Actor != risk.agent.Ref() || es[0].Reason != "morning feed" || es[0].Name != fx.EventRatesImported {
		t.Fatalf("upload audit entries %+v", es)
	}

	// A rate by hand.
	rates, events := e.count(t, `SELECT COUNT(*) FROM fx_rates`), e.count(t, `SELECT COUNT(*) FROM audit_log`)
	res = risk.c.post("/staff/fx/rate", url.Values{"base": {"eur"}, "quote": {" cny "}, "rate": {"7.7012"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, html.EscapeString(e.text(i18n.En, "fxadmin.error.reason")), `value="EUR"`, `value="CNY"`, `value="7.7012"`)
	res = risk.c.post("/staff/fx/rate", url.Values{"base": {"EUR"}, "quote": {"CNY"}, "rate": {"7,7012"}, "reason": {"treasury"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, html.EscapeString(e.text(i18n.En, "fxadmin.error.rate")))
	res = risk.c.post("/staff/fx/rate", url.Values{"base": {"EUR"}, "quote": {"EUR"}, "rate": {"1"}, "reason": {"treasury"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, html.EscapeString(e.text(i18n.En, "fxadmin.error.same")))
	res = risk.c.post("/staff/fx/rate", url.Values{"base": {"EUR"}, "quote": {"XYZ"}, "rate": {"1"}, "reason": {"treasury"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, html.EscapeString(e.text(i18n.En, "fxadmin.error.quote")))
	if e.count(t, `SELECT COUNT(*) FROM fx_rates`) != rates || e.count(t, `SELECT COUNT(*) FROM audit_log`) != events {
		t.Fatal("a refused rate stored something")
	}
	res = risk.c.post("/staff/fx/rate", url.Values{"base": {"EUR"}, "quote": {"CNY"}, "rate": {"7.7012"}, "reason": {"ECB feed late"}})
	wantRedirect(t, res, "/staff/fx?done=set&pair=EUR%2FCNY")
	page = risk.c.get(res.Header.Get("Location"))
	wantContains(t, page.body, html.EscapeString(e.text(i18n.En, "fxadmin.notice.set", "Pair", "EUR/CNY")), "1 EUR = 7.7012 CNY",
		html.EscapeString(e.text(i18n.En, "fxadmin.set_by", "Who", risk.agent.Ref())), "ECB feed late")
	if rows := fxRows(page.body); rows["EUR/CNY"] != "admin no" || rows["EUR/USD"] != "ecb yes" {
		t.Fatalf("rates after the hand-set rate: %v", rows)
	}
	es := e.auditOf(t, "fx:EUR/CNY")
	if len(es) != 1 || es[0].Name != fx.EventRateSet || es[0].Actor != risk.agent.Ref() || es[0].Reason != "ECB feed late" ||
		es[0].Details["rate"] != "7.7012" || es[0].Details["previous_source"] != fx.SourceECB || es[0].IP == "" {
		t.Fatalf("audit entries %+v", es)
	}
	// Its age grows with the clock.
	e.clock.Advance(25 * time.Minute) // within the staff session's idle timeout
	page = risk.c.get("/staff/fx")
	wantContains(t, page.body, e.text(i18n.En, "fxadmin.age.minutes", "N", 25))

	// Past the sudo window (10 minutes) a rate change needs the passkey
	// again (SES-08): 403 with the step-up panel, nothing changed; after
	// it, the page again.
	rates, events = e.count(t, `SELECT COUNT(*) FROM fx_rates`), e.count(t, `SELECT COUNT(*) FROM audit_log`)
	res = risk.c.post("/staff/fx/rate", url.Values{"base": {"EUR"}, "quote": {"CNY"}, "rate": {"7.8"}, "reason": {"late"}})
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res.body, `data-testid="staff-stepup-required"`, `data-testid="staff-stepup"`, `action="/staff/login/passkey"`)
	if e.count(t, `SELECT COUNT(*) FROM audit_log`) != events || !strings.Contains(risk.c.get("/staff/fx").body, "1 EUR = 7.7012 CNY") {
		t.Fatal("a rate changed outside the sudo window")
	}
	e.passkeyStep(t, risk, "/staff/fx", "/staff/fx")
	events = e.count(t, `SELECT COUNT(*) FROM audit_log`)

	// Uploads that import nothing.
	res = risk.c.upload("/staff/fx/ecb", nil, "file", "rates.xml", []byte("<html>not rates</html>"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, "This is not an ECB reference-rate file")
	res = risk.c.upload("/staff/fx/ecb", map[string]string{"upload_reason": "x"}, "", "", nil)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, html.EscapeString(e.text(i18n.En, "fxadmin.error.file")))
	res = risk.c.post("/staff/fx/ecb", url.Values{"file": {"eurofxref-daily.xml"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	big := bytes.Repeat([]byte("<!-- padding -->\n"), 2000)
	res = risk.c.upload("/staff/fx/ecb", nil, "file", "big.xml", append(big, daily...))
	wantStatus(t, res, http.StatusRequestEntityTooLarge)
	wantContains(t, res.body, html.EscapeString(e.text(i18n.En, "fxadmin.error.file_large", "KiB", 16)))
	res = risk.c.upload("/staff/fx/ecb", map[string]string{"upload_reason": strings.Repeat("r", 201)}, "file", "eurofxref-daily.xml",
		bytes.ReplaceAll(daily, []byte("2026-01-09"), []byte("2026-01-08")))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res.body, html.EscapeString(e.text(i18n.En, "fxadmin.error.reason_long")))
	if e.count(t, `SELECT COUNT(*) FROM fx_rates`) != rates || e.count(t, `SELECT COUNT(*) FROM audit_log`) != events {
		t.Fatal("a refused upload stored something")
	}
}

func (e *fxEnv) auditOf(t *testing.T, subject string) []audit.Entry {
	t.Helper()
	es, err := audit.New(e.db).List(e.ctx, subject, audit.MaxListLimit, 0)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestStaffFXPermission: fx:manage belongs to the risk and admin roles;
// the agent and the supervisor get 403 on every rate route (audited) and
// no link in the navigation; the routes answer 404 when the page is off.
func TestStaffFXPermission(t *testing.T) {
	t.Parallel()
	e := newFXEnv(t)
	for _, r := range agent.Roles() {
		m := e.newMember(t, r)
		may := r == agent.RoleRisk || r == agent.RoleAdmin
		if may != agent.RoleHas(r, agent.PermFXManage) {
			t.Fatalf("%s: fx:manage %v", r, !may)
		}
		home := m.c.get("/staff/")
		if strings.Contains(home.body, `data-testid="nav-staff-fx"`) != may {
			t.Errorf("%s: nav link shown %v", r, !may)
		}
		get := m.c.get("/staff/fx")
		set := m.c.post("/staff/fx/rate", url.Values{"base": {"EUR"}, "quote": {"CNY"}, "rate": {"7.7"}, "reason": {"try"}})
		up := m.c.upload("/staff/fx/ecb", nil, "file", "d.xml", readFixture(t, "../fx/testdata/eurofxref-daily.xml"))
		if may {
			wantStatus(t, get, http.StatusOK)
			wantRedirect(t, set, "/staff/fx?done=set")
			wantRedirect(t, up, "/staff/fx?done=imported")
			e.clock.Advance(time.Second) // the next role's rate is a new one
			continue
		}
		for _, res := range []*response{get, set, up} {
			wantStatus(t, res, http.StatusForbidden)
		}
		found := false
		for _, en := range e.auditOf(t, m.agent.Ref()) {
			found = found || en.Name == audit.AuthzFail && en.Details["permission"] == string(agent.PermFXManage)
		}
		if !found {
			t.Errorf("%s: no authz_fail entry for fx:manage", r)
		}
	}
	if n := len(e.auditOf(t, "fx:EUR/CNY")); n != 2 {
		t.Errorf("%d rates set, want 2 (risk and admin)", n)
	}

	// Without EnableFXAdmin the routes exist and answer 404.
	off := newStaffEnv(t, agent.Config{})
	admin := off.newMember(t, agent.RoleAdmin)
	wantStatus(t, admin.c.get("/staff/fx"), http.StatusNotFound)
	wantStatus(t, admin.c.post("/staff/fx/rate", url.Values{}), http.StatusNotFound)
	if strings.Contains(admin.c.get("/staff/").body, `data-testid="nav-staff-fx"`) {
		t.Error("the nav links to a page that is off")
	}
	if err := off.server.EnableFXAdmin(nil); err == nil {
		t.Error("EnableFXAdmin(nil) accepted")
	}
}

// TestStaffFXPageInBothLanguages renders the page, empty, with rates and
// with form errors, in both languages.
func TestStaffFXPageInBothLanguages(t *testing.T) {
	t.Parallel()
	e := newFXEnv(t)
	admin := e.newMember(t, agent.RoleAdmin)
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		admin.c.lang = string(l)
		checkAccountPage(t, e.accountEnv, "fx empty", l, admin.c.get("/staff/fx"))
	}
	wantRedirect(t, admin.c.upload("/staff/fx/ecb", nil, "file", "d.xml", readFixture(t, "../fx/testdata/eurofxref-daily.xml")), "/staff/fx?done=imported")
	wantRedirect(t, admin.c.post("/staff/fx/rate", url.Values{"base": {"USD"}, "quote": {"HKD"}, "rate": {"7.7712"}, "reason": {"peg"}}), "/staff/fx?done=set")
	for _, l := range []i18n.Lang{i18n.En, i18n.ZhCN} {
		admin.c.lang = string(l)
		page := admin.c.get("/staff/fx?done=set&pair=USD/HKD")
		checkAccountPage(t, e.accountEnv, "fx rates", l, page)
		wantContains(t, page.body, e.text(l, "fxadmin.source.ecb"), e.text(l, "fxadmin.source.admin"), e.text(l, "fxadmin.stale"))
		bad := admin.c.post("/staff/fx/rate", url.Values{"base": {"U"}, "quote": {""}, "rate": {"-1"}})
		wantStatus(t, bad, http.StatusUnprocessableEntity)
		bad.StatusCode = http.StatusOK // the checks expect 200
		checkAccountPage(t, e.accountEnv, "fx errors", l, bad)
		for _, id := range []string{"fxadmin.error.base", "fxadmin.error.quote", "fxadmin.error.rate", "fxadmin.error.reason"} {
			wantContains(t, bad.body, html.EscapeString(e.text(l, id)))
		}
	}
}
