package httpapi

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/wallet"
)

// handleNotFound answers what no route matched: 405 with Allow when the
// path exists for other methods, 404 otherwise.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, rt := range s.routes() {
		if pathMatches(rt.Pattern, r.URL.Path) {
			allow = append(allow, rt.Method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, okpay.Errorf(EMethodNotAllowed, "%s is not allowed here; use %s", r.Method, strings.Join(allow, " or ")))
		return
	}
	s.writeError(w, r, okpay.Errorf(okpay.ENotFound, "there is no such API route"))
}

// pathMatches reports whether path fits a route pattern whose {name}
// segments match any one segment.
func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], "{") {
			if xs[i] == "" {
				return false
			}
			continue
		}
		if ps[i] != xs[i] {
			return false
		}
	}
	return true
}

type createAccountRequest struct {
	Code     string            `json:"code"`
	Owner    string            `json:"owner"`
	Currency string            `json:"currency"`
	Kind     string            `json:"kind"`
	Flags    []string          `json:"flags"`
	Metadata map[string]string `json:"metadata"`
}

func (s *Server) handleCreateAccount(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req createAccountRequest
	if err := decode(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Owner == "" { // an account no one owns could never be listed
		s.writeError(w, r, okpay.Invalid(map[string]string{"owner": "required"}))
		return
	}
	if wallet.KeepsAccount(req.Owner, "") {
		s.writeError(w, r, okpay.Invalid(map[string]string{"owner": "reserved for the wallet's accounts (okpay, usr_…)"}))
		return
	}
	if wallet.KeepsAccount("", req.Code) {
		s.writeError(w, r, okpay.Invalid(map[string]string{"code": "reserved for the wallet's accounts (wallet:, fees:, suspense:, clearing:, fx:, external:)"}))
		return
	}
	in := ledger.AccountInput{Code: req.Code, Owner: req.Owner, Currency: money.Currency(req.Currency), Kind: ledger.Kind(req.Kind), Metadata: req.Metadata}
	for _, f := range req.Flags {
		switch f {
		case "no_overdraft":
			in.Flags |= ledger.FlagNoOverdraft
		default:
			s.writeError(w, r, okpay.Invalid(map[string]string{"flags": "unknown flag " + strconv.Quote(f)}))
			return
		}
	}
	a, err := s.ledger.CreateAccount(r.Context(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, appendAccount(nil, a))
}

// pathID parses the {id} path value with the given prefix.
func pathID(r *http.Request, prefix string) (int64, error) {
	id, ok := ids.Parse(prefix, r.PathValue("id"))
	if !ok {
		return 0, okpay.Errorf(okpay.ENotFound, "%q is not a valid %s_ id", r.PathValue("id"), prefix)
	}
	return id, nil
}

// page reads ?limit= and ?cursor=.
func page(r *http.Request, prefix string) (limit int, before int64, err error) {
	q := r.URL.Query()
	limit = 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, okpay.Invalid(map[string]string{"limit": "a number from 1 to 100"})
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" {
		id, ok := ids.Parse(prefix, c)
		if !ok {
			return 0, 0, okpay.Invalid(map[string]string{"cursor": "not a cursor from this list"})
		}
		before = id
	}
	return limit, before, nil
}

func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, prefixAccount)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.ledger.FindAccountByID(r.Context(), id)
	if err == nil && wallet.KeepsAccount(a.Owner, a.Code) {
		err = errWalletAccount(id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendAccount(nil, a))
}

func (s *Server) handleListAccounts(w http.ResponseWriter, r *http.Request) {
	limit, before, err := page(r, prefixAccount)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	owner := r.URL.Query().Get("owner")
	if owner == "" {
		s.writeError(w, r, okpay.Invalid(map[string]string{"owner": "required"}))
		return
	}
	if wallet.KeepsAccount(owner, "") { // none here (ledger_scope.go)
		writeJSON(w, http.StatusOK, appendList(nil, []*ledger.Account{}, false, "", appendAccount))
		return
	}
	accts, more, err := s.ledger.FindAccounts(r.Context(), ledger.AccountFilter{Owner: owner, Before: before, Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cursor := ""
	if more {
		cursor = ids.Format(prefixAccount, accts[len(accts)-1].ID)
	}
	writeJSON(w, http.StatusOK, appendList(nil, accts, more, cursor, appendAccount))
}

func (s *Server) handleAccountEntries(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, prefixAccount)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, before, err := page(r, prefixEntry)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if m, err := s.walletAccount(r.Context(), id); err != nil || m {
		if m {
			err = errWalletAccount(id)
		}
		s.writeError(w, r, err)
		return
	}
	if _, err := s.ledger.FindAccountByID(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	ents, more, err := s.ledger.FindEntries(r.Context(), ledger.EntryFilter{AccountID: id, Before: before, Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cursor := ""
	if more {
		cursor = ids.Format(prefixEntry, ents[len(ents)-1].ID)
	}
	resolved, err := s.ledger.Resolutions(r.Context(), ents)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendList(nil, ents, more, cursor, func(b []byte, e *ledger.Entry) []byte {
		if phase, ok := resolved[e.ID]; ok {
			return appendEntry(b, e, &ledger.EntryStatus{Entry: e, Resolution: &ledger.Entry{Phase: phase}})
		}
		return appendEntry(b, e, nil)
	}))
}

func (s *Server) handleGetEntry(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, prefixEntry)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.ledger.FindEntryByID(r.Context(), id)
	if err == nil {
		err = s.checkEntry(r.Context(), st.Entry, ledger.EEntryNotFound)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendEntry(nil, st.Entry, st))
}

type transferRequest struct {
	From      string            `json:"from"`
	To        string            `json:"to"`
	Amount    *money.Amount     `json:"amount"`
	Reference string            `json:"reference"`
	Type      string            `json:"type"`
	Metadata  map[string]string `json:"metadata"`
}

func accountRef(fields map[string]string, name, s string) int64 {
	id, ok := ids.Parse(prefixAccount, s)
	if !ok {
		if s == "" {
			fields[name] = "required"
		} else {
			fields[name] = "not an account id (acc_...)"
		}
	}
	return id
}

func (s *Server) buildTransfer(r *http.Request, body []byte, ref string) (ledger.Op, error) {
	var req transferRequest
	if err := decode(body, &req); err != nil {
		return ledger.Op{}, err
	}
	fields := map[string]string{}
	from := accountRef(fields, "from", req.From)
	to := accountRef(fields, "to", req.To)
	if req.Amount == nil {
		fields["amount"] = "required"
	} else if req.Amount.Minor <= 0 {
		fields["amount"] = "must be greater than zero"
	}
	if from != 0 && from == to {
		fields["to"] = "must differ from from"
	}
	if len(fields) > 0 {
		return ledger.Op{}, okpay.Invalid(fields)
	}
	if req.Reference != "" {
		ref = req.Reference
	}
	if req.Type == "" {
		req.Type = "transfer"
	}
	return ledger.Op{Entry: &ledger.EntryInput{
		Reference: ref, Type: req.Type, Metadata: req.Metadata,
		Postings: []ledger.Posting{{Debit: from, Credit: to, Amount: req.Amount.Minor, Currency: req.Amount.Currency}},
	}}, nil
}

type postingRequest struct {
	Debit  string        `json:"debit"`
	Credit string        `json:"credit"`
	Amount *money.Amount `json:"amount"`
}

type entryRequest struct {
	Reference      string            `json:"reference"`
	Type           string            `json:"type"`
	Postings       []postingRequest  `json:"postings"`
	EffectiveAt    *time.Time        `json:"effective_at"`
	TimeoutSeconds int64             `json:"timeout_seconds"`
	Metadata       map[string]string `json:"metadata"`
}

func (s *Server) buildEntry(pending bool) func(*http.Request, []byte, string) (ledger.Op, error) {
	return func(r *http.Request, body []byte, ref string) (ledger.Op, error) {
		var req entryRequest
		if err := decode(body, &req); err != nil {
			return ledger.Op{}, err
		}
		fields := map[string]string{}
		in := &ledger.EntryInput{Reference: ref, Type: req.Type, Pending: pending, Metadata: req.Metadata}
		if req.Reference != "" {
			in.Reference = req.Reference
		}
		if req.EffectiveAt != nil {
			in.EffectiveAt = *req.EffectiveAt
		}
		if req.TimeoutSeconds != 0 {
			if !pending {
				fields["timeout_seconds"] = "only holds time out"
			} else if req.TimeoutSeconds < 0 || req.TimeoutSeconds > 90*24*3600 {
				fields["timeout_seconds"] = "between 1 and 7776000 (90 days)"
			}
			in.Timeout = time.Duration(req.TimeoutSeconds) * time.Second
		}
		for i, p := range req.Postings {
			k := "postings[" + strconv.Itoa(i) + "]"
			lp := ledger.Posting{
				Debit:  accountRef(fields, k+".debit", p.Debit),
				Credit: accountRef(fields, k+".credit", p.Credit),
			}
			if p.Amount == nil {
				fields[k+".amount"] = "required"
			} else {
				lp.Amount, lp.Currency = p.Amount.Minor, p.Amount.Currency
			}
			in.Postings = append(in.Postings, lp)
		}
		if len(fields) > 0 {
			return ledger.Op{}, okpay.Invalid(fields)
		}
		return ledger.Op{Entry: in}, nil
	}
}

type resolveRequest struct {
	Reference string            `json:"reference"`
	Amounts   []money.Amount    `json:"amounts"`
	Metadata  map[string]string `json:"metadata"`
}

func (s *Server) buildResolve(void bool) func(*http.Request, []byte, string) (ledger.Op, error) {
	return func(r *http.Request, body []byte, ref string) (ledger.Op, error) {
		id, err := pathID(r, prefixEntry)
		if err != nil {
			return ledger.Op{}, err
		}
		var req resolveRequest
		if len(bytes.TrimSpace(body)) > 0 {
			if err := decode(body, &req); err != nil {
				return ledger.Op{}, err
			}
		}
		if void && req.Amounts != nil {
			return ledger.Op{}, okpay.Invalid(map[string]string{"amounts": "a void releases the whole hold"})
		}
		in := &ledger.ResolveInput{Reference: ref, PendingID: id, Void: void, Metadata: req.Metadata}
		if req.Reference != "" {
			in.Reference = req.Reference
		}
		if req.Amounts != nil { // [] is "no amounts", not "everything"
			in.Amounts, in.Currencies = make([]int64, 0, len(req.Amounts)), make([]money.Currency, 0, len(req.Amounts))
		}
		for _, a := range req.Amounts {
			in.Amounts = append(in.Amounts, a.Minor)
			in.Currencies = append(in.Currencies, a.Currency)
		}
		return ledger.Op{Resolve: in}, nil
	}
}

func (s *Server) buildReverse(r *http.Request, body []byte, ref string) (ledger.Op, error) {
	id, err := pathID(r, prefixEntry)
	if err != nil {
		return ledger.Op{}, err
	}
	var req resolveRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decode(body, &req); err != nil {
			return ledger.Op{}, err
		}
	}
	in := &ledger.ReverseInput{Reference: ref, EntryID: id, Metadata: req.Metadata}
	if req.Reference != "" {
		in.Reference = req.Reference
	}
	if req.Amounts != nil {
		in.Amounts, in.Currencies = make([]int64, 0, len(req.Amounts)), make([]money.Currency, 0, len(req.Amounts))
	}
	if err := somethingToReverse(req.Amounts); err != nil {
		return ledger.Op{}, err
	}
	for _, a := range req.Amounts {
		in.Amounts = append(in.Amounts, a.Minor)
		in.Currencies = append(in.Currencies, a.Currency)
	}
	return ledger.Op{Reverse: in}, nil
}

// somethingToReverse refuses a partial reversal of nothing (every amount
// zero: zero is how a posting is left out): it answered 409 "nothing left
// to reverse", stored under the Idempotency-Key, for a request that was
// simply wrong.
func somethingToReverse(as []money.Amount) error {
	if len(as) == 0 {
		return nil
	}
	for _, a := range as {
		if a.Minor != 0 {
			return nil
		}
	}
	return okpay.Invalid(map[string]string{"amounts": "reverse more than zero"})
}
