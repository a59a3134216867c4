package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/phone"
)

// The customer's callback requests (package phone) in the account area:
// GET /account/callbacks shows the form (topic, a day and a window in the
// customer's time zone, a note) and the requests with their status; POST
// /account/callbacks queues one; POST /account/callbacks/cancel cancels a
// waiting one (form field "callback"). The number called is always the
// account's verified one: the form has no number field. Each form carries
// a random key, so a resubmitted form makes no second request.

// Page templates of the phone channel.
const (
	pageCallbacks  = "account_callbacks.html"
	pageVerifyCode = "account_phone_verify.html"
	pageStaffPhone = "staff_phone.html"
	pagePhoneRep   = "staff_phone_report.html"
)

// callbackZones are the time zones offered (the customer's is the
// browser's choice among them; Asia/Shanghai first).
var callbackZones = []string{"Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Europe/London", "Europe/Berlin",
	"America/New_York", "America/Los_Angeles", "UTC"}

// phoneState is the phone channel's part of the Server.
type phoneState struct {
	svc *phone.Service
}

// EnablePhone adds the callback page to the account area and, with the
// staff console, the phone page (queue, caller verification, report).
func (s *Server) EnablePhone(svc *phone.Service) error {
	if svc == nil {
		return errors.New("web: EnablePhone needs the phone service")
	}
	names := []string{pageCallbacks, pageVerifyCode}
	if s.staff != nil {
		names = append(names, pageStaffPhone, pagePhoneRep)
	}
	for _, name := range names {
		files := []string{"templates/layout.html", "templates/partials.html"}
		if name != pageCallbacks && name != pageVerifyCode {
			files = append(files, "templates/staff_partials.html")
		}
		t, err := template.New(name).Option("missingkey=error").ParseFS(templateFS, append(files, "templates/"+name)...)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[name] = t
	}
	s.phone = &phoneState{svc: svc}
	return nil
}

// phoneAccountRoutes are the callback page's routes (none before
// EnablePhone or without the account pages).
func (s *Server) phoneAccountRoutes() []Route {
	if s.phone == nil || s.id == nil {
		return nil
	}
	return []Route{
		{http.MethodGet, "/account/callbacks", s.account(s.handleCallbacks)},
		{http.MethodPost, "/account/callbacks", s.account(s.handleCallbackRequest)},
		{http.MethodPost, "/account/callbacks/cancel", s.account(s.handleCallbackCancel)},
		{http.MethodGet, "/account/phone-verify/{ref}", s.account(s.handlePhoneVerifyCode)},
		{http.MethodPost, "/account/phone-verify/{ref}/refuse", s.account(s.handlePhoneVerifyRefuse)},
	}
}

type callbackOption struct {
	Value, Label string
	Selected     bool
}

// callbackView is one request as the page lists it.
type callbackView struct {
	Ref, Topic, Window, State, StateLabel string
	Cancellable                           bool
}

// callbacksData is the content of account_callbacks.html.
type callbacksData struct {
	// Phone is the verified number, masked ("" when none is verified).
	Phone     string
	Topics    []callbackOption
	Zones     []callbackOption
	Date      string
	From, To  string
	Note      string
	Key       string
	Error     string
	Callbacks []callbackView
}

func newFormKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) handleCallbacks(w http.ResponseWriter, r *http.Request) {
	s.renderCallbacks(w, r, http.StatusOK, nil)
}

// renderCallbacks shows the page; form (nil on a GET) keeps what was
// typed and errText says what went wrong.
func (s *Server) renderCallbacks(w http.ResponseWriter, r *http.Request, status int, form *callbacksData) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.settingsPage(r, "phone.account.title")
	switch r.URL.Query().Get("done") {
	case "requested":
		p.Notice = p.T("phone.account.requested")
	case "cancelled":
		p.Notice = p.T("phone.account.cancelled")
	}
	// The reader's own time zone when it is one offered.
	defZone := callbackZones[0]
	if z := p.zone().String(); slices.Contains(callbackZones, z) {
		defZone = z
	}
	d := callbacksData{}
	if form != nil {
		d = *form
	} else {
		loc, _ := time.LoadLocation(defZone)
		start := s.phone.svc.Clock.Now().In(loc).Add(time.Hour).Truncate(time.Hour)
		d.Date, d.From, d.To = start.Format("2006-01-02"), start.Format("15:04"), start.Add(time.Hour).Format("15:04")
		d.Topics = nil
	}
	d.Key = newFormKey()
	if !a.user.PhoneVerifiedAt.IsZero() && a.user.Phone != "" {
		d.Phone = maskedNumber(a.user.Phone)
	}
	selTopic := r.PostFormValue("topic")
	d.Topics = nil
	for _, c := range desk.Categories() {
		d.Topics = append(d.Topics, callbackOption{Value: string(c), Label: desk.CategoryLabel(s.cat, p.Lang, c), Selected: string(c) == selTopic})
	}
	selZone := r.PostFormValue("time_zone")
	if selZone == "" {
		selZone = defZone
	}
	d.Zones = nil
	for _, z := range callbackZones {
		d.Zones = append(d.Zones, callbackOption{Value: z, Label: z, Selected: z == selZone})
	}
	list, err := s.phone.svc.Callbacks(r.Context(), a.user.ID, 0, 20)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	for _, c := range list {
		from, to := c.Local()
		d.Callbacks = append(d.Callbacks, callbackView{Ref: c.Ref(), Topic: desk.CategoryLabel(s.cat, p.Lang, c.Topic),
			Window: p.T("phone.account.window", "Day", from.Format("2006-01-02"), "From", from.Format("15:04"), "To", to.Format("15:04"), "Zone", c.TimeZone),
			State:  c.State, StateLabel: p.T("phone.state." + c.State), Cancellable: c.State == phone.StateQueued})
	}
	p.Status = status
	p.Data = d
	s.render(w, r, pageCallbacks, p)
}

// maskedNumber shows the last 4 digits of a number.
func maskedNumber(n string) string {
	if len(n) <= 4 {
		return "••••"
	}
	return "•••• " + n[len(n)-4:]
}

func (s *Server) handleCallbackRequest(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	form := &callbacksData{Date: r.PostFormValue("date"), From: r.PostFormValue("from"), To: r.PostFormValue("to"), Note: r.PostFormValue("note")}
	p := s.newPage(r)
	zone := r.PostFormValue("time_zone")
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" {
		loc = time.UTC
	}
	start, err1 := time.ParseInLocation("2006-01-02 15:04", form.Date+" "+form.From, loc)
	end, err2 := time.ParseInLocation("2006-01-02 15:04", form.Date+" "+form.To, loc)
	if err1 != nil || err2 != nil {
		form.Error = p.T("phone.account.error.window")
		s.renderCallbacks(w, r, http.StatusUnprocessableEntity, form)
		return
	}
	key := r.PostFormValue("key")
	if len(key) > 64 {
		key = ""
	}
	_, err = s.phone.svc.RequestCallback(r.Context(), a.user.ID, phone.CallbackInput{Topic: desk.Category(r.PostFormValue("topic")), Note: form.Note,
		WindowStart: start, WindowEnd: end, TimeZone: zone, Lang: p.Lang, IdempotencyKey: key})
	switch c := code(err); {
	case err == nil:
		redirect(w, r, "/account/callbacks?done=requested")
	case c == okpay.EInvalid:
		var e *okpay.Error
		form.Error = p.T("phone.account.error.window")
		if errors.As(err, &e) && e.Fields["topic"] != "" && e.Fields["window"] == "" {
			form.Error = p.T("phone.account.topic")
		}
		s.renderCallbacks(w, r, http.StatusUnprocessableEntity, form)
	case c == phone.ENoVerifiedPhone || c == phone.ETooManyCallbacks:
		form.Error = p.T("problem." + c + ".detail")
		s.renderCallbacks(w, r, http.StatusConflict, form)
	default:
		s.internalError(w, r, err)
	}
}

func (s *Server) handleCallbackCancel(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	id, ok := phone.ParseCallbackRef(r.PostFormValue("callback"))
	if !ok {
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
		return
	}
	_, err := s.phone.svc.CancelCallback(r.Context(), a.user.ID, id)
	switch code(err) {
	case "":
		redirect(w, r, "/account/callbacks?done=cancelled")
	case okpay.ENotFound:
		s.renderAccountError(w, r, http.StatusNotFound, "notfound.title", "notfound.body")
	case phone.ECallbackClosed:
		p := s.newPage(r)
		s.renderCallbacks(w, r, http.StatusConflict, &callbacksData{Error: p.T("problem.phone_callback_closed.detail")})
	default:
		s.internalError(w, r, err)
	}
}
