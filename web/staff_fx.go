package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/money"
)

// The exchange-rate page of the staff console (/staff/fx, permission
// fx:manage: the risk and admin roles): the latest rate of every pair
// with its source and age, a form to set a rate by hand (a reason is
// required), and the upload of an ECB reference-rate file
// (eurofxref-daily.xml). The rates, their validation and the audit record
// that commits with each change are package fx's (SetRateAudited,
// ImportECBAudited); this page only shows and forwards. The upload goes
// through the staff routes' body limit (maxFormBytes, 16 KiB): enough for
// the ECB's daily file; the 90-day and full-history files are for
// "okpay fx import --ecb FILE".

// pageStaffFX is the template of the rates page.
const pageStaffFX = "staff_fx.html"

// staffFXMessageIDs are the ids the rates page uses from Go code.
var staffFXMessageIDs = []string{
	"fxadmin.page_title", "fxadmin.notice.set", "fxadmin.notice.imported",
	"fxadmin.error.base", "fxadmin.error.quote", "fxadmin.error.same", "fxadmin.error.rate", "fxadmin.error.reason",
	"fxadmin.error.reason_long", "fxadmin.error.conflict", "fxadmin.error.file", "fxadmin.error.file_large", "fxadmin.error.ecb",
	"fxadmin.age.now", "fxadmin.age.minutes", "fxadmin.age.hours", "fxadmin.age.days",
	"fxadmin.source.ecb", "fxadmin.source.file", "fxadmin.source.admin",
}

// fxAdminState is the rates page's part of the staff console.
type fxAdminState struct {
	rates *fx.Service
}

// EnableFXAdmin adds the exchange-rate page to the staff console (which
// must be configured: Config.Agents). Call it once, after New and before
// serving. Without it the routes answer 404.
func (s *Server) EnableFXAdmin(rates *fx.Service) error {
	if s.staff == nil {
		return errors.New("web: the exchange-rate page needs the staff console (Config.Agents)")
	}
	if rates == nil {
		return errors.New("web: EnableFXAdmin needs the rate service")
	}
	t, err := template.New(pageStaffFX).Option("missingkey=error").
		ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/staff_partials.html", "templates/"+pageStaffFX)
	if err != nil {
		return fmt.Errorf("web: parse %s: %w", pageStaffFX, err)
	}
	var missing []string
	for _, id := range staffFXMessageIDs {
		if !s.cat.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("web: exchange-rate page message ids missing from the catalog: %v", missing)
	}
	s.pages[pageStaffFX] = t
	s.staff.fx = &fxAdminState{rates: rates}
	return nil
}

// staffFXRoutes are the rates page's routes (StaffRoutes lists them).
func (s *Server) staffFXRoutes() []StaffRoute {
	h := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return []StaffRoute{
		{http.MethodGet, "/staff/fx", StaffFull, agent.PermFXManage, h(s.handleStaffFX)},
		{http.MethodPost, "/staff/fx/rate", StaffSudo, agent.PermFXManage, h(s.handleStaffFXSet)},
		{http.MethodPost, "/staff/fx/ecb", StaffSudo, agent.PermFXManage, h(s.handleStaffFXUpload)},
	}
}

// fxRates returns the rate service, or answers 404 when the page is off.
func (s *Server) fxRates(w http.ResponseWriter, r *http.Request) *fx.Service {
	if s.staff == nil || s.staff.fx == nil {
		s.staffError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return nil
	}
	return s.staff.fx.rates
}

// ---- page helpers ----

// FXAge says how old a rate is: "just now", "12 min", "5 h", "3 d".
func (p *page) FXAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return p.T("fxadmin.age.now")
	case d < time.Hour:
		return p.T("fxadmin.age.minutes", "N", int(d/time.Minute))
	case d < 48*time.Hour:
		return p.T("fxadmin.age.hours", "N", int(d/time.Hour))
	}
	return p.T("fxadmin.age.days", "N", int(d/(24*time.Hour)))
}

// FXSource names a rate's source in the page's language
// ("fxadmin.source.<source>"; a source without a name there by its stored
// name).
func (p *page) FXSource(src string) string {
	if id := "fxadmin.source." + src; p.s.cat.Has(id) {
		return p.T(id)
	}
	return src
}

// ---- the page ----

// staffFXData is the content of staff_fx.html.
type staffFXData struct {
	staffNav
	Rates []fx.RateStatus
	// MaxAge is how old a rate may be and still price a quote.
	MaxAge time.Duration
	// Stale counts the rates older than MaxAge.
	Stale int
	// MaxUpload is the largest file the upload takes, in KiB.
	MaxUpload int
}

// staffFXPage builds the rates page with form f (false: an answer was
// sent).
func (s *Server) staffFXPage(w http.ResponseWriter, r *http.Request, rates *fx.Service, f *form) (*page, bool) {
	list, _, err := rates.LatestStatus(r.Context())
	if err != nil {
		s.staffInternal(w, r, err)
		return nil, false
	}
	p := s.staffPage(r, "fxadmin.page_title")
	p.Form = f
	d := staffFXData{staffNav: s.navFor(r), Rates: list, MaxAge: rates.Config().MaxAge, MaxUpload: maxFormBytes >> 10}
	for _, x := range list {
		if x.Stale {
			d.Stale++
		}
	}
	p.Data = d
	return p, true
}

func (s *Server) handleStaffFX(w http.ResponseWriter, r *http.Request) {
	rates := s.fxRates(w, r)
	if rates == nil {
		return
	}
	p, ok := s.staffFXPage(w, r, rates, newForm())
	if !ok {
		return
	}
	q := r.URL.Query()
	switch q.Get("done") {
	case "set":
		if pair, ok := parsePair(q.Get("pair")); ok {
			p.Notice = p.T("fxadmin.notice.set", "Pair", pair.String())
		}
	case "imported":
		n := func(k string) int {
			v, err := strconv.Atoi(q.Get(k))
			if err != nil || v < 0 {
				return 0
			}
			return v
		}
		p.Notice = p.T("fxadmin.notice.imported", "Inserted", n("inserted"), "Unchanged", n("unchanged"), "Skipped", n("skipped"))
	}
	s.render(w, r, pageStaffFX, p)
}

// parsePair reads "EUR/CNY".
func parsePair(s string) (fx.Pair, bool) {
	b, q, ok := strings.Cut(s, "/")
	p := fx.Pair{Base: money.Currency(b), Quote: money.Currency(q)}
	return p, ok && p.Base.Valid() && p.Quote.Valid() && p.Base != p.Quote
}

// staffFXChange is the signed-in agent's change with reason.
func (s *Server) staffFXChange(w http.ResponseWriter, r *http.Request, reason string) fx.Change {
	m := s.staffMeta(w, r)
	return fx.Change{Actor: staffFrom(r).agent.Ref(), Reason: reason, IP: m.IP, RequestID: m.RequestID}
}

// handleStaffFXSet sets a rate by hand.
func (s *Server) handleStaffFXSet(w http.ResponseWriter, r *http.Request) {
	rates := s.fxRates(w, r)
	if rates == nil {
		return
	}
	f := newForm().keep(r, "base", "quote", "rate", "reason")
	for _, k := range []string{"base", "quote"} {
		f.values[k] = strings.ToUpper(strings.TrimSpace(f.values[k]))
	}
	f.values["rate"] = strings.TrimSpace(f.values["rate"])
	base, quote := money.Currency(f.Value("base")), money.Currency(f.Value("quote"))
	_, err := rates.SetRateAudited(r.Context(), base, quote, f.Value("rate"), s.staffFXChange(w, r, f.Value("reason")))
	if err == nil {
		redirect(w, r, "/staff/fx?done=set&pair="+url.QueryEscape(fx.Pair{Base: base, Quote: quote}.String()))
		return
	}
	p, ok := s.staffFXPage(w, r, rates, f)
	if !ok {
		return
	}
	switch code(err) {
	case okpay.EInvalid:
		fields := fieldErrors(err)
		if _, bad := fields["base"]; bad {
			f.set("base", p.T("fxadmin.error.base"))
		}
		if _, bad := fields["quote"]; bad {
			if base == quote && base.Valid() {
				f.set("quote", p.T("fxadmin.error.same"))
			} else {
				f.set("quote", p.T("fxadmin.error.quote"))
			}
		}
		if _, bad := fields["rate"]; bad {
			f.set("rate", p.T("fxadmin.error.rate"))
		}
		if _, bad := fields["reason"]; bad {
			if strings.TrimSpace(f.Value("reason")) == "" {
				f.set("reason", p.T("fxadmin.error.reason"))
			} else {
				f.set("reason", p.T("fxadmin.error.reason_long"))
			}
		}
		if !f.Any() {
			f.fail(p.T("staff.error.invalid"))
		}
		p.Status = http.StatusUnprocessableEntity
	case okpay.EConflict:
		f.fail(p.T("fxadmin.error.conflict"))
		p.Status = http.StatusConflict
	default:
		s.staffInternal(w, r, err)
		return
	}
	s.render(w, r, pageStaffFX, p)
}

// handleStaffFXUpload imports an uploaded ECB reference-rate file.
func (s *Server) handleStaffFXUpload(w http.ResponseWriter, r *http.Request) {
	rates := s.fxRates(w, r)
	if rates == nil {
		return
	}
	f := newForm()
	fail := func(status int, field, id string, kv ...any) {
		p, ok := s.staffFXPage(w, r, rates, f)
		if !ok {
			return
		}
		f.set(field, p.T(id, kv...))
		p.Status = status
		s.render(w, r, pageStaffFX, p)
	}
	if err := r.ParseMultipartForm(maxFormBytes); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(http.StatusRequestEntityTooLarge, "file", "fxadmin.error.file_large", "KiB", maxFormBytes>>10)
			return
		}
		fail(http.StatusUnprocessableEntity, "file", "fxadmin.error.file")
		return
	}
	defer r.MultipartForm.RemoveAll()
	f.keep(r, "upload_reason")
	file, _, err := r.FormFile("file")
	if err != nil {
		fail(http.StatusUnprocessableEntity, "file", "fxadmin.error.file")
		return
	}
	defer file.Close()
	res, err := rates.ImportECBAudited(r.Context(), file, s.staffFXChange(w, r, f.Value("upload_reason")))
	if err != nil {
		switch {
		case code(err) == okpay.EInvalid && fieldErrors(err)["reason"] != "":
			fail(http.StatusUnprocessableEntity, "upload_reason", "fxadmin.error.reason_long")
		case code(err) == okpay.EInvalid:
			fail(http.StatusUnprocessableEntity, "file", "fxadmin.error.ecb", "Detail", strings.TrimPrefix(okpay.ErrorMessage(err), "fx: "))
		default:
			s.staffInternal(w, r, err)
		}
		return
	}
	redirect(w, r, fmt.Sprintf("/staff/fx?done=imported&inserted=%d&unchanged=%d&skipped=%d", res.Inserted, res.Unchanged, len(res.Skipped)))
}
