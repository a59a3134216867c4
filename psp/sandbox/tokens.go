package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/i18n"
)

// maxTokenBody bounds the token endpoint's request body.
const maxTokenBody = 4 << 10

// tokenRequest is the parsed input of POST /sandbox/v1/tokens. ExpMonth
// and ExpYear are -1 when given but not numbers, 0 when absent.
type tokenRequest struct {
	Number   string
	ExpMonth int
	ExpYear  int
	CVC      string
	ReturnTo string // form only: where to send the browser back
	Lang     string // form only
	Form     bool
}

// errMalformed is a request that is not a token request at all.
var errMalformed = errors.New("malformed token request")

// Field length bounds of the token request.
var tokenFieldMax = map[string]int{
	"number": 32, "exp_month": 4, "exp_year": 4, "exp": 9, "cvc": 8, "return_to": 1024, "lang": 8,
}

// parseTokenRequest reads a token request from a JSON or form body. JSON is
// one flat object of known fields (exact names, no duplicates, string or
// integer values); a form may carry other fields, which are ignored, but
// no known field twice. Values longer than their bound are malformed.
func parseTokenRequest(contentType string, body []byte) (tokenRequest, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return tokenRequest{}, errMalformed
	}
	vals := map[string]string{}
	switch mt {
	case "application/json":
		if vals, err = parseFlatJSON(body); err != nil {
			return tokenRequest{}, err
		}
		if _, ok := vals["return_to"]; ok {
			return tokenRequest{}, errMalformed
		}
		if _, ok := vals["lang"]; ok {
			return tokenRequest{}, errMalformed
		}
	case "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return tokenRequest{}, errMalformed
		}
		for k, v := range q {
			if _, known := tokenFieldMax[k]; !known {
				continue
			}
			if len(v) != 1 {
				return tokenRequest{}, errMalformed
			}
			vals[k] = v[0]
		}
	default:
		return tokenRequest{}, errMalformed
	}
	for k, v := range vals {
		if len(v) > tokenFieldMax[k] {
			return tokenRequest{}, errMalformed
		}
	}
	r := tokenRequest{Number: vals["number"], CVC: vals["cvc"], ReturnTo: vals["return_to"], Lang: vals["lang"],
		Form: mt != "application/json"}
	m, hasM := vals["exp_month"]
	y, hasY := vals["exp_year"]
	if exp, ok := vals["exp"]; ok && !hasM && !hasY {
		m, y, _ = strings.Cut(exp, "/")
		hasM, hasY = true, true
	}
	if hasM {
		r.ExpMonth = smallInt(strings.TrimSpace(m))
	}
	if hasY {
		r.ExpYear = smallInt(strings.TrimSpace(y))
	}
	return r, nil
}

// smallInt parses 1 to 4 ASCII digits; anything else is -1.
func smallInt(s string) int {
	if s == "" || len(s) > 4 {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// parseFlatJSON reads one JSON object whose values are strings or
// integers, with keys from tokenFieldMax, each at most once.
func parseFlatJSON(body []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errMalformed
	}
	out := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errMalformed
		}
		k, ok := tok.(string)
		if _, known := tokenFieldMax[k]; !ok || !known {
			return nil, errMalformed
		}
		if _, dup := out[k]; dup {
			return nil, errMalformed
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, errMalformed
		}
		switch v := tok.(type) {
		case string:
			out[k] = v
		case json.Number:
			if _, err := strconv.ParseUint(string(v), 10, 16); err != nil {
				return nil, errMalformed
			}
			out[k] = string(v)
		default:
			return nil, errMalformed
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errMalformed
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errMalformed
	}
	return out, nil
}

// tokenResponse is the JSON answer of a successful tokenization.
type tokenResponse struct {
	Token       string `json:"token"`
	Brand       string `json:"brand"`
	Last4       string `json:"last4"`
	ExpMonth    int    `json:"exp_month"`
	ExpYear     int    `json:"exp_year"`
	Fingerprint string `json:"fingerprint"`
}

// problem is an RFC 9457 problem document of the token endpoint.
type problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail,omitempty"`
	Code   string            `json:"code"`
	Errors map[string]string `json:"errors,omitempty"`
	// ErrorCodes names each field's problem with a stable code
	// (invalid_number, invalid_expiry, expired_card, invalid_cvc).
	ErrorCodes map[string]string `json:"error_codes,omitempty"`
}

// handleTokens is POST /sandbox/v1/tokens, the hosted card field. The card
// number and CVC are never logged, stored or echoed.
func (p *pages) handleTokens(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	lang := i18n.Negotiate(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenBody))
	if err != nil {
		p.tokenProblem(w, lang, http.StatusRequestEntityTooLarge, "request_too_large", nil)
		return
	}
	req, err := parseTokenRequest(r.Header.Get("Content-Type"), body)
	clear(body)
	if err != nil {
		p.tokenProblem(w, lang, http.StatusBadRequest, "invalid_request", nil)
		return
	}
	if l, ok := i18n.ParseLang(req.Lang); ok {
		lang = l
	}
	back := ""
	if req.Form && req.ReturnTo != "" {
		back = safeLocalPath(req.ReturnTo)
	}
	c, problems := checkCard(req.Number, req.ExpMonth, req.ExpYear, req.CVC, p.s.clock.Now())
	req.Number, req.CVC = "", ""
	if problems != nil {
		if back != "" {
			field := firstField(problems)
			redirectWith(w, r, back, url.Values{"card_error": {problems[field]}, "card_error_field": {field}})
			return
		}
		p.tokenProblem(w, lang, http.StatusUnprocessableEntity, okpay.EInvalid, problems)
		return
	}
	card, err := p.s.store(r.Context(), c)
	c.digits = ""
	if err != nil {
		p.s.log.Error("sandbox: tokenize", "err", err)
		p.tokenProblem(w, lang, http.StatusInternalServerError, okpay.EInternal, nil)
		return
	}
	if back != "" {
		redirectWith(w, r, back, url.Values{"card_token": {card.Token}})
		return
	}
	writeJSON(w, http.StatusCreated, "application/json", tokenResponse{
		Token: card.Token, Brand: card.Brand, Last4: card.Last4, ExpMonth: card.ExpMonth, ExpYear: card.ExpYear,
		Fingerprint: card.Fingerprint,
	})
}

// firstField returns the first field with a problem, in form order.
func firstField(problems map[string]string) string {
	for _, f := range []string{"number", "expiry", "cvc"} {
		if _, ok := problems[f]; ok {
			return f
		}
	}
	return ""
}

func (p *pages) tokenProblem(w http.ResponseWriter, lang i18n.Lang, status int, code string, problems map[string]string) {
	pr := problem{Type: "about:blank", Status: status, Code: code}
	switch code {
	case okpay.EInvalid:
		pr.Title = p.s.catalog.T(lang, "sandbox.token.invalid", nil)
		pr.Errors, pr.ErrorCodes = map[string]string{}, problems
		for f, c := range problems {
			pr.Errors[f] = p.s.catalog.T(lang, "sandbox.card_problem."+c, nil)
		}
	case okpay.EInternal:
		pr.Title = p.s.catalog.T(lang, "sandbox.token.internal", nil)
	default:
		pr.Title = p.s.catalog.T(lang, "sandbox.token.bad_request", nil)
	}
	writeJSON(w, status, "application/problem+json", pr)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// redirectWith answers 303 to the local path back with q added to its
// query.
func redirectWith(w http.ResponseWriter, r *http.Request, back string, q url.Values) {
	u, err := url.Parse(back)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	old := u.Query()
	for k, v := range q {
		old[k] = v
	}
	u.RawQuery = old.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// safeLocalPath returns next if it is a path on this site, "/" otherwise
// (no scheme, host, backslash or control character; not "//...").
func safeLocalPath(next string) string {
	if next == "" || len(next) > 1024 || next[0] != '/' {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	if strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f || r == '\uFFFD' }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}
