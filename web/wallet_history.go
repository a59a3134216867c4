package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// The history: a filter form (GET, so a filtered list has its own
// address), a page of transactions newest first with the link to the next
// (older) page, the same list as CSV, and one transaction's page.

// historyPage is how many transactions a history page shows.
const historyPage = 20

// historyFilter is the filter form's values, as typed.
type historyFilter struct {
	Type, Status, Currency, From, To string
}

// query is the filter as URL parameters (without the cursor).
func (h historyFilter) query() url.Values {
	q := url.Values{}
	for _, kv := range [][2]string{{"type", h.Type}, {"status", h.Status}, {"currency", h.Currency}, {"from", h.From}, {"to", h.To}} {
		if kv[1] != "" {
			q.Set(kv[0], kv[1])
		}
	}
	return q
}

// dateLayout is how a date input sends its value.
const dateLayout = "2006-01-02"

// parseFilter reads the filter of the request's query into a
// wallet.Filter, putting what is wrong on f.
func (s *Server) parseFilter(p *page, f *form, q url.Values) (historyFilter, wallet.Filter) {
	h := historyFilter{Type: q.Get("type"), Status: q.Get("status"), Currency: q.Get("currency"), From: q.Get("from"), To: q.Get("to")}
	var wf wallet.Filter
	if h.Type != "" {
		if t := wallet.Type(h.Type); t.Valid() {
			wf.Type = t
		} else {
			f.set("f-type", p.T("walletui.error.filter"))
		}
	}
	if h.Status != "" {
		if st := wallet.Status(h.Status); st.Valid() {
			wf.Status = st
		} else {
			f.set("f-status", p.T("walletui.error.filter"))
		}
	}
	if h.Currency != "" {
		if c, err := money.ParseCurrency(h.Currency); err == nil {
			wf.Currency = c
		} else {
			f.set("f-currency", p.T("walletui.error.filter"))
		}
	}
	date := func(field, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		// A day of the reader's calendar (the dates shown are theirs).
		t, err := time.ParseInLocation(dateLayout, v, p.zone())
		if err != nil || t.Year() < 2000 || t.Year() > 9999 {
			f.set(field, p.T("walletui.error.date"))
			return time.Time{}
		}
		return t
	}
	wf.From = date("f-from", h.From)
	if to := date("f-to", h.To); !to.IsZero() {
		wf.To = to.AddDate(0, 0, 1) // the whole last day
	}
	if !wf.From.IsZero() && !wf.To.IsZero() && !wf.From.Before(wf.To) {
		f.set("f-to", p.T("walletui.error.date_order"))
	}
	return h, wf
}

// typeOptions and statusOptions are the choices of the filter form.
func (p *page) typeOptions() []walletOption {
	out := []walletOption{{Value: "", Label: p.T("walletui.filter.any_type")}}
	for _, t := range wallet.Types {
		out = append(out, walletOption{Value: string(t), Label: p.T("walletui.type." + string(t))})
	}
	return out
}

func (p *page) statusOptions() []walletOption {
	out := []walletOption{{Value: "", Label: p.T("walletui.filter.any_status")}}
	for _, st := range wallet.Statuses {
		out = append(out, walletOption{Value: string(st), Label: p.T("walletui.status." + string(st))})
	}
	return out
}

type historyData struct {
	Filter     historyFilter
	Types      []walletOption
	Statuses   []walletOption
	Currencies []walletOption
	Txns       []txnView
	// Next is the address of the next (older) page, First that of the
	// first page when this is a later one.
	Next     string
	First    string
	CSV      string
	Filtered bool
}

func (s *Server) handleWalletHistory(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.history.page_title")
	f := newForm()
	q := r.URL.Query()
	h, wf := s.parseFilter(p, f, q)
	cur := []walletOption{{Value: "", Label: p.T("walletui.filter.any_currency")}}
	d := historyData{Filter: h, Types: p.typeOptions(), Statuses: p.statusOptions(), Currencies: append(cur, s.currencyOptions()...)}
	base := h.query()
	d.Filtered = len(base) > 0
	d.CSV = "/wallet/transactions.csv"
	if d.Filtered {
		d.CSV += "?" + base.Encode()
	}
	if c := q.Get("cursor"); c != "" {
		if _, ok := wallet.ParseTxnRef(c); ok {
			wf.Cursor = c
		} else {
			f.fail(p.T("walletui.error.filter"))
		}
		d.First = "/wallet/transactions"
		if d.Filtered {
			d.First += "?" + base.Encode()
		}
	}
	if f.Any() {
		p.Form, p.Status = f, http.StatusUnprocessableEntity
		p.Data = d
		s.render(w, r, pageWalletHistory, p)
		return
	}
	wf.Limit = historyPage
	pg, err := s.wallet.svc.FindTransactions(r.Context(), a.user.ID, wf)
	if err != nil {
		if code(err) == okpay.EInvalid {
			f.fail(p.T("walletui.error.filter"))
			p.Form, p.Status = f, http.StatusUnprocessableEntity
			p.Data = d
			s.render(w, r, pageWalletHistory, p)
			return
		}
		s.internalError(w, r, err)
		return
	}
	for _, t := range pg.Txns {
		d.Txns = append(d.Txns, s.txnView(p, t))
	}
	if pg.HasMore {
		next := h.query()
		next.Set("cursor", pg.NextCursor)
		d.Next = "/wallet/transactions?" + next.Encode()
	}
	p.Data = d
	s.render(w, r, pageWalletHistory, p)
}

// handleWalletCSV sends the filtered history as a CSV file
// (wallet.ExportCSV: one line per transaction, cells that a spreadsheet
// would read as formulas neutralised).
func (s *Server) handleWalletCSV(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.history.page_title")
	f := newForm()
	_, wf := s.parseFilter(p, f, r.URL.Query())
	if f.Any() {
		s.renderAccountError(w, r, http.StatusUnprocessableEntity, "problem.invalid_request.title", "walletui.error.filter")
		return
	}
	var buf bytes.Buffer
	if err := s.wallet.svc.ExportCSV(r.Context(), &buf, a.user.ID, wf, p.Lang); err != nil {
		if code(err) == okpay.EInvalid {
			s.renderAccountError(w, r, http.StatusUnprocessableEntity, "problem.invalid_request.title", "walletui.error.filter")
			return
		}
		s.internalError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="okpay-transactions-`+s.id.Clock.Now().UTC().Format("20060102")+`.csv"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// ---- One transaction ----

// timelineStep is one step of a transaction's status timeline.
type timelineStep struct {
	Status string
	Label  string
	State  string // done, current, upcoming, failed
	At     time.Time
}

// txnPath is the usual path of each type through the state machine
// (TXN-03); steps a transaction skipped are left out of its timeline.
func txnPath(t *wallet.Txn) []wallet.Status {
	switch t.Type {
	case wallet.TypeTransferIn:
		return []wallet.Status{wallet.StatusCompleted}
	case wallet.TypeTransferOut, wallet.TypeRemittance:
		if t.AuthMethod != "" {
			return []wallet.Status{wallet.StatusDraft, wallet.StatusAwaitingAuth, wallet.StatusAuthorized, wallet.StatusCompleted}
		}
		return []wallet.Status{wallet.StatusDraft, wallet.StatusCompleted}
	case wallet.TypeDeposit:
		path := []wallet.Status{wallet.StatusDraft}
		if t.Status == wallet.StatusAwaitingAuth || t.ActionURL != "" {
			path = append(path, wallet.StatusAwaitingAuth)
		}
		return append(path, wallet.StatusExecuting, wallet.StatusCompleted)
	case wallet.TypeWithdrawal:
		return []wallet.Status{wallet.StatusDraft, wallet.StatusAwaitingAuth, wallet.StatusAuthorized, wallet.StatusPendingReview,
			wallet.StatusApproved, wallet.StatusExecuting, wallet.StatusCompleted}
	}
	return []wallet.Status{wallet.StatusDraft, wallet.StatusCompleted}
}

// timeline lays out t's path: the steps passed, the current one, those
// to come; a transaction that failed (or was rejected, or reversed) ends
// with that step, dated, after the steps it had passed.
func timeline(p *page, t *wallet.Txn) []timelineStep {
	path := txnPath(t)
	at := -1
	for i, st := range path {
		if st == t.Status {
			at = i
		}
	}
	var out []timelineStep
	label := func(st wallet.Status) string { return p.T("walletui.timeline." + string(st)) }
	switch {
	case at >= 0:
		for i, st := range path {
			step := timelineStep{Status: string(st), Label: label(st), State: "upcoming"}
			switch {
			case i < at:
				step.State = "done"
			case i == at:
				step.State = "current"
				if t.Status.Final() {
					step.State = "done"
				}
				step.At = t.UpdatedAt
			}
			if i == 0 {
				step.At = t.CreatedAt
			}
			out = append(out, step)
		}
	default: // failed, rejected, reversed, or a status off the usual path
		out = append(out, timelineStep{Status: string(wallet.StatusDraft), Label: label(wallet.StatusDraft), State: "done", At: t.CreatedAt})
		if t.Status == wallet.StatusReversed {
			out = append(out, timelineStep{Status: string(wallet.StatusCompleted), Label: label(wallet.StatusCompleted), State: "done"})
		}
		state := "failed"
		if !t.Status.Final() {
			state = "current"
		}
		out = append(out, timelineStep{Status: string(t.Status), Label: label(t.Status), State: state, At: t.UpdatedAt})
	}
	return out
}

type txnData struct {
	T        txnView
	Timeline []timelineStep
	// Continue is where an unfinished transaction goes on: the code page
	// of a transfer, the 3-D Secure page of a deposit.
	Continue string
	// Withdrawal is a withdrawal's own page: its status, expected
	// completion and cancellation (wallet_withdraw.go; "" for other types).
	Withdrawal string
}

func (s *Server) handleWalletTxn(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireSignIn(w, r)
	if !ok {
		return
	}
	t, ok := s.txnFromPath(w, r, a)
	if !ok {
		return
	}
	p := s.walletPage(r, "walletui.txn.page_title")
	d := txnData{T: s.txnView(p, t), Timeline: timeline(p, t)}
	if t.Type == wallet.TypeDeposit {
		d.T.Method = s.cardLabel(r, a, t.MethodID)
	}
	if t.Status == wallet.StatusAwaitingAuth {
		switch t.Type {
		case wallet.TypeTransferOut:
			d.Continue = "/wallet/send/" + t.Ref() + "/code"
		case wallet.TypeDeposit:
			d.Continue = t.ActionURL
		case wallet.TypeWithdrawal:
			if path := s.withdrawalPath(t); path != "" {
				d.Continue = path + "/code"
			}
		}
	}
	d.Withdrawal = s.withdrawalPath(t)
	p.Data = d
	s.render(w, r, pageWalletTxn, p)
}
