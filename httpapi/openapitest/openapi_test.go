package openapitest_test

// These tests hold the API to its contract, openapi.json: the document must
// be valid OpenAPI 3.1, describe exactly the routes of httpapi.Routes, and
// every request and response of a live server (real ledger on SQLite, real
// API key) must match it. The validator is pb33f/libopenapi-validator.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/okpay/okpay/apikey"
	"github.com/okpay/okpay/assistant"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/httpapi"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// ---------------------------------------------------------------------------
// The document itself.

// loadModel parses openapi.json with libopenapi and builds its 3.1 model;
// any error (syntax, unresolved $ref, wrong version) fails the test.
func loadModel(t testing.TB) (libopenapi.Document, *v3.Document) {
	t.Helper()
	doc, err := libopenapi.NewDocument(httpapi.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("openapi.json: version %q, want 3.1.0", v)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("openapi.json: building the 3.1 model: %v", err)
	}
	return doc, &m.Model
}

func newValidator(t testing.TB, doc libopenapi.Document) validator.Validator {
	t.Helper()
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("openapi.json: creating the validator: %v", errs)
	}
	return v
}

func fmtErrors(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			loc := se.FieldPath
			if loc == "" {
				loc = "/" + strings.Join(se.InstancePath, "/")
			}
			fmt.Fprintf(&b, "\n      %s: %s (schema %s)", loc, se.Reason, se.KeywordLocation)
		}
	}
	return b.String()
}

func TestOpenAPIDocumentValid(t *testing.T) {
	doc, _ := loadModel(t)
	v := newValidator(t, doc)
	if ok, errs := v.ValidateDocument(); !ok {
		t.Fatalf("openapi.json is not a valid OpenAPI 3.1 document:%s", fmtErrors(errs))
	}
}

// TestOpenAPIFormatted keeps the hand-written file in one layout: JSON
// indented with two spaces, ending with a newline.
func TestOpenAPIFormatted(t *testing.T) {
	var compact, indented bytes.Buffer
	if err := json.Compact(&compact, httpapi.OpenAPI); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	indented.WriteByte('\n')
	if !bytes.Equal(indented.Bytes(), httpapi.OpenAPI) {
		a, b := strings.Split(indented.String(), "\n"), strings.Split(string(httpapi.OpenAPI), "\n")
		for i := 0; i < len(a) && i < len(b); i++ {
			if a[i] != b[i] {
				t.Fatalf("openapi.json is not formatted with a 2-space indent: line %d is\n%q\nwant\n%q\n(reformat: jq --indent 2 . openapi.json)", i+1, b[i], a[i])
			}
		}
		t.Fatalf("openapi.json is not formatted with a 2-space indent (length differs)")
	}
}

// operations lists the document's operations as "METHOD /path".
func operations(m *v3.Document) map[string]*v3.Operation {
	out := map[string]*v3.Operation{}
	for path, item := range m.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			out[strings.ToUpper(method)+" "+path] = op
		}
	}
	return out
}

func TestOpenAPIRoutes(t *testing.T) {
	_, m := loadModel(t)
	ops := operations(m)
	routes := map[string]bool{}
	for _, r := range httpapi.Routes {
		k := r.Method + " " + r.Pattern
		if routes[k] {
			t.Errorf("httpapi.Routes lists %s twice", k)
		}
		routes[k] = true
		if ops[k] == nil {
			t.Errorf("route %s (httpapi.Routes) has no operation in openapi.json", k)
		}
	}
	for k := range ops {
		if !routes[k] {
			t.Errorf("openapi.json documents %s, which is not in httpapi.Routes", k)
		}
	}
}

// route returns the entry of httpapi.Routes for an operation.
func route(method, path string) httpapi.Route {
	for _, r := range httpapi.Routes {
		if r.Method == method && r.Pattern == path {
			return r
		}
	}
	return httpapi.Route{Method: method, Pattern: path}
}

// idempotent reports whether a route moves money or changes security
// settings, and so needs an Idempotency-Key and replays its answers.
func idempotent(method, path string) bool {
	return route(method, path).Idempotency == httpapi.IdemRequired
}

// idPrefixes gives the id prefix of the {id} of the routes under each path.
var idPrefixes = map[string]string{
	"/api/v1/accounts/":    "acc_",
	"/api/v1/entries/":     "ent_",
	"/api/v1/holds/":       "ent_",
	"/api/v1/sessions/":    "ses_",
	"/api/v1/me/passkeys/": "pkey_",
	// Payment methods (methods_test.go).
	"/api/v1/payment_methods/": "pm_",
}

// lists are the operations that answer a page of a list.
var lists = map[string]bool{
	"GET /api/v1/accounts":              true,
	"GET /api/v1/accounts/{id}/entries": true,
	"GET /api/v1/sessions":              true,
	"GET /api/v1/me/passkeys":           true,
	"GET /api/v1/payment_methods":       true,
}

func enumStrings(s *base.Schema) []string {
	var out []string
	for _, n := range s.Enum {
		out = append(out, n.Value)
	}
	return out
}

// TestOpenAPIConventions checks what the API's conventions require of every
// operation, so that a route added later cannot skip them.
func TestOpenAPIConventions(t *testing.T) {
	_, m := loadModel(t)
	ids := map[string]string{}
	for key, op := range operations(m) {
		method, path, _ := strings.Cut(key, " ")
		rt := route(method, path)
		if op.OperationId == "" || op.Summary == "" || op.Description == "" {
			t.Errorf("%s: needs an operationId, a summary and a description", key)
		}
		if other, dup := ids[op.OperationId]; dup {
			t.Errorf("%s: operationId %q is also used by %s", key, op.OperationId, other)
		}
		ids[op.OperationId] = key

		// Parameters.
		params := map[string]*v3.Parameter{}
		for _, p := range op.Parameters {
			params[p.In+":"+p.Name] = p
		}
		if strings.Contains(path, "{id}") {
			p := params["path:id"]
			if p == nil || p.Required == nil || !*p.Required {
				t.Errorf("%s: the {id} path parameter must be declared and required", key)
			} else {
				want := "^(no prefix for this path)"
				for p, prefix := range idPrefixes {
					if strings.HasPrefix(path, p) {
						want = "^" + prefix
					}
				}
				if pat := p.Schema.Schema().Pattern; !strings.HasPrefix(pat, want) {
					t.Errorf("%s: the id pattern %q should start with %q", key, pat, want)
				}
			}
		}
		idem := params["header:Idempotency-Key"]
		switch rt.Idempotency {
		case httpapi.IdemRequired:
			if idem == nil || idem.Required == nil || !*idem.Required {
				t.Errorf("%s moves money or changes security settings: it must require the Idempotency-Key header", key)
			}
		default:
			if idem != nil {
				t.Errorf("%s moves no money and changes no security setting but declares Idempotency-Key", key)
			}
		}
		if method == "GET" && (lists[key] || strings.HasSuffix(path, "/entries")) {
			lim, cur := params["query:limit"], params["query:cursor"]
			if lim == nil || cur == nil {
				t.Errorf("%s is a list: it must take limit and cursor", key)
			} else {
				s := lim.Schema.Schema()
				if s.Minimum == nil || *s.Minimum != 1 || s.Maximum == nil || *s.Maximum != 100 {
					t.Errorf("%s: limit must be 1..100", key)
				}
			}
		}

		// Security, as httpapi.Routes says: public routes declare none,
		// ledger routes inherit the API key, customer routes take the
		// session token or cookie.
		public := rt.Auth == httpapi.AuthPublic
		switch rt.Auth {
		case httpapi.AuthPublic:
			if op.Security == nil || len(op.Security) != 0 {
				t.Errorf("%s: public, so security should be []", key)
			}
		case httpapi.AuthAPIKey:
			if op.Security != nil {
				t.Errorf("%s: security should be inherited (the API key)", key)
			}
		case httpapi.AuthSession, httpapi.AuthSessionAAL1:
			var schemes []string
			for _, req := range op.Security {
				for name := range req.Requirements.KeysFromOldest() {
					schemes = append(schemes, name)
				}
			}
			if !slices.Equal(schemes, []string{"sessionToken", "sessionCookie"}) {
				t.Errorf("%s: a customer route's security should be sessionToken or sessionCookie, have %v", key, schemes)
			}
		case httpapi.AuthChat: // the support chat (desk_test.go): a session, the visitor cookie, or nothing
			var schemes []string
			anonymous := false
			for _, req := range op.Security {
				n := 0
				for name := range req.Requirements.KeysFromOldest() {
					schemes = append(schemes, name)
					n++
				}
				anonymous = anonymous || n == 0
			}
			if !slices.Equal(schemes, []string{"sessionToken", "sessionCookie", "visitorCookie"}) || !anonymous {
				t.Errorf("%s: a chat route's security should be sessionToken, sessionCookie, visitorCookie or none, have %v", key, schemes)
			}
		default:
			t.Errorf("%s: not in httpapi.Routes", key)
		}

		// Request body: JSON, closed, with examples.
		hasFields := false
		if rb := op.RequestBody; rb != nil {
			if rb.Content.Len() != 1 || rb.Content.GetOrZero("application/json") == nil {
				t.Errorf("%s: the request body must be application/json only", key)
			} else {
				mt := rb.Content.GetOrZero("application/json")
				s := mt.Schema.Schema()
				if ap := s.AdditionalProperties; ap == nil || !ap.IsB() || ap.B {
					t.Errorf("%s: the request body schema must have additionalProperties: false", key)
				}
				if mt.Examples.Len() == 0 && mt.Example == nil {
					t.Errorf("%s: the request body needs an example", key)
				}
				hasFields = s.Properties != nil && s.Properties.Len() > 0
			}
		} else if method == "POST" {
			t.Errorf("%s: a POST must describe its body", key)
		}

		// Responses.
		if op.Responses == nil || op.Responses.Codes == nil {
			t.Errorf("%s: has no responses", key)
			continue
		}
		codes := map[string]*v3.Response{}
		for code, r := range op.Responses.Codes.FromOldest() {
			codes[code] = r
		}
		if op.Responses.Default != nil {
			t.Errorf("%s: list every status instead of a default response", key)
		}
		if !public && codes["401"] == nil {
			t.Errorf("%s: response 401 is missing", key)
		}
		if path != "/api/openapi.json" && codes["500"] == nil {
			t.Errorf("%s: response 500 is missing", key)
		}
		if op.RequestBody != nil {
			want := []string{"400", "413", "415"}
			if hasFields { // only a body with fields can have an invalid one
				want = append(want, "422")
			}
			for _, c := range want {
				if codes[c] == nil {
					t.Errorf("%s takes a body: response %s is missing", key, c)
				}
			}
		}
		if rt.Idempotency != httpapi.IdemNone && codes["409"] == nil {
			t.Errorf("%s: response 409 (idempotency_request_in_flight) is missing", key)
		}
		if strings.Contains(path, "{id}") && codes["404"] == nil {
			t.Errorf("%s: response 404 is missing", key)
		}
		success := 0
		for code, r := range codes {
			if r.Description == "" {
				t.Errorf("%s %s: needs a description", key, code)
			}
			if h := r.Headers.GetOrZero("X-Request-Id"); h == nil || !h.Required {
				t.Errorf("%s %s: must declare the required X-Request-Id header", key, code)
			}
			if h := r.Headers.GetOrZero("Cache-Control"); h == nil {
				t.Errorf("%s %s: must declare Cache-Control", key, code)
			}
			if code == "204" {
				success++
				if r.Content != nil && r.Content.Len() > 0 {
					t.Errorf("%s 204: must have no content", key)
				}
				continue
			}
			if code[0] == '2' {
				success++
				mt := r.Content.GetOrZero(successMedia(key)) // JSON, except the CSV export (wallet_test.go)
				if r.Content.Len() != 1 || mt == nil {
					t.Errorf("%s %s: a success must be %s", key, code, successMedia(key))
				} else if mt.Examples.Len() == 0 && mt.Example == nil {
					t.Errorf("%s %s: the success response needs an example", key, code)
				}
				if idempotent(method, path) && r.Headers.GetOrZero("Idempotent-Replayed") == nil {
					t.Errorf("%s %s: must declare Idempotent-Replayed", key, code)
				}
				continue
			}
			mt := r.Content.GetOrZero("application/problem+json")
			if r.Content.Len() != 1 || mt == nil {
				t.Errorf("%s %s: an error must be application/problem+json only", key, code)
				continue
			}
			s := mt.Schema.Schema()
			if len(s.AllOf) != 2 || s.AllOf[0].GetReference() != "#/components/schemas/Problem" {
				t.Errorf("%s %s: the schema must be allOf [Problem, {status, code}]", key, code)
				continue
			}
			props := s.AllOf[1].Schema().Properties
			st, cd := props.GetOrZero("status"), props.GetOrZero("code")
			if st == nil || cd == nil {
				t.Errorf("%s %s: the schema must pin status and the codes", key, code)
				continue
			}
			if c := st.Schema().Const; c == nil || c.Value != code {
				t.Errorf("%s %s: status const is %v", key, code, c)
			}
			for _, c := range enumStrings(cd.Schema()) {
				if !slices.Contains(httpapi.ErrorCodes(), c) {
					t.Errorf("%s %s: code %q is not in httpapi.ErrorCodes()", key, code, c)
				}
			}
			if code == "401" && r.Headers.GetOrZero("WWW-Authenticate") == nil {
				t.Errorf("%s 401: must declare WWW-Authenticate", key)
			}
		}
		if success != 1 {
			t.Errorf("%s: want exactly one success response, have %d", key, success)
		}
	}

	// The Problem's code enum is exactly ErrorCodes().
	problem := m.Components.Schemas.GetOrZero("ErrorCode").Schema()
	if got, want := enumStrings(problem), httpapi.ErrorCodes(); !slices.Equal(got, want) {
		t.Errorf("ErrorCode enum = %v\nwant httpapi.ErrorCodes() = %v", got, want)
	}
	// The Currency enum is exactly the currencies of package money.
	var want []string
	for _, c := range money.Currencies() {
		want = append(want, string(c))
	}
	if got := enumStrings(m.Components.Schemas.GetOrZero("Currency").Schema()); !slices.Equal(got, want) {
		t.Errorf("Currency enum = %v\nwant money.Currencies() = %v", got, want)
	}
	// Kinds.
	var kinds []string
	for _, k := range ledger.Kinds {
		kinds = append(kinds, string(k))
	}
	if got := enumStrings(m.Components.Schemas.GetOrZero("AccountKind").Schema()); !slices.Equal(got, kinds) {
		t.Errorf("AccountKind enum = %v, want ledger.Kinds = %v", got, kinds)
	}
}

// TestOpenAPIExamples validates every example in the document (request
// bodies, responses, parameters, schemas) against its schema.
func TestOpenAPIExamples(t *testing.T) {
	_, m := loadModel(t)
	sv := schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	n := 0
	check := func(where string, s *base.Schema, value any) {
		t.Helper()
		n++
		b, err := json.Marshal(value)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		if ok, errs := sv.ValidateSchemaBytesWithVersion(s, b, 3.1); !ok {
			t.Errorf("%s: the example does not match its schema:%s\nexample: %s", where, fmtErrors(errs), b)
		}
	}
	decode := func(where string, node interface{ Decode(any) error }) any {
		var v any
		if err := node.Decode(&v); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		return v
	}
	media := func(where string, mt *v3.MediaType) {
		s := mt.Schema.Schema()
		if mt.Example != nil {
			check(where+" example", s, decode(where, mt.Example))
		}
		for name, ex := range mt.Examples.FromOldest() {
			if ex.Value == nil {
				t.Errorf("%s examples.%s: has no value", where, name)
				continue
			}
			check(where+" examples."+name, s, decode(where, ex.Value))
		}
	}
	for key, op := range operations(m) {
		if op.RequestBody != nil {
			for ct, mt := range op.RequestBody.Content.FromOldest() {
				media(key+" request "+ct, mt)
			}
		}
		if op.Responses == nil {
			continue // TestOpenAPIConventions reports it
		}
		for code, r := range op.Responses.Codes.FromOldest() {
			for ct, mt := range r.Content.FromOldest() {
				media(key+" "+code+" "+ct, mt)
			}
		}
		for _, p := range op.Parameters {
			if p.Example != nil {
				check(key+" parameter "+p.Name, p.Schema.Schema(), decode(key, p.Example))
			}
		}
	}
	for name, sp := range m.Components.Schemas.FromOldest() {
		s := sp.Schema()
		for i, ex := range s.Examples {
			check(fmt.Sprintf("schema %s examples[%d]", name, i), s, decode(name, ex))
		}
	}
	if n < 40 {
		t.Errorf("only %d examples checked; expected more", n)
	}
}

// ---------------------------------------------------------------------------
// A live server checked against the document.

// harness runs the API on a real ledger and checks each exchange against
// the document.
type harness struct {
	srv   *httptest.Server
	v     validator.Validator
	vmu   sync.Mutex
	key   string
	clock *clock.Manual
	led   *ledger.Ledger
	db    *sqldb.DB
	id    *identityDeps       // the customer identity service (identity_test.go)
	pay   *paymentDeps        // the payment methods and the sandbox (methods_test.go)
	wal   *wallet.Service     // the wallet (wallet_test.go)
	wd    *wallet.Withdrawals // the withdrawals (withdraw_test.go)
	fx    *exchangeDeps       // exchange and remittance (exchange_test.go)
	desk  *desk.Service       // the support chat (desk_test.go)
	// emails are visitors' addresses for the replies (desk_contact_test.go).
	emails *desk.VisitorEmails
	asst   *assistant.Service // self-service in the chat (assistant_test.go)
	phone  *httpapi.PhoneAPI  // the phone channel (phone_test.go)

	mu      sync.Mutex
	seen    map[string]map[int]int // route → status → count
	checked int
	clients map[string]*http.Client // by source address
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	doc, _ := loadModel(t)
	db := sqldbtest.Open(t, sqldb.SQLite)
	clk := clock.NewManual(time.Date(2026, 11, 25, 19, 44, 11, 0, time.UTC))
	gen := &ids.Sequence{}
	led, err := ledger.New(ctx, db, ledger.Options{Clock: clk, IDs: gen, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(led.Close)
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	keys := apikey.NewStore(db, clk, gen)
	_, secret, err := keys.Create(ctx, "openapi test")
	if err != nil {
		t.Fatal(err)
	}
	id := newIdentity(t, db, clk, gen, cat)
	pay := newPayments(t, db, clk, gen, id, cat)
	wal := newWallet(t, db, clk, gen, led, id, pay, cat)
	wd := newWithdrawals(t, wal, id, pay)
	fxd := newExchange(t, db, clk, gen, wal)
	dsk := newDesk(t, db, clk, gen)
	asst := newAssistant(t, db, clk, gen, cat, id, wal, wd, dsk)
	ph := newPhone(t, db, clk, gen, cat, id, dsk)
	emails, err := desk.NewVisitorEmails(dsk, desk.VisitorEmailDeps{Outbox: id.outbox, Catalog: cat, Links: id.svc.Keys.MAC("desk.visitor-email-link"), BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Ledger: led, Keys: keys, Catalog: cat, Identity: id.svc, Methods: pay.pm, PSPWebhook: pay.hook, Wallet: wal,
		Withdrawals: wd, Exchange: fxd.x, FXRates: fxd.rates, Desk: dsk, VisitorEmails: emails, Assistant: asst, Phone: ph})
	t.Cleanup(api.Close)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(api.Observe(mux))
	t.Cleanup(srv.Close)
	pay.start(t, srv.URL)
	return &harness{srv: srv, v: newValidator(t, doc), key: secret, clock: clk, led: led, db: db, id: id, pay: pay, wal: wal, wd: wd, fx: fxd, desk: dsk, emails: emails, asst: asst, phone: ph, seen: map[string]map[int]int{}, clients: map[string]*http.Client{}}
}

// req is one request of a scenario.
type req struct {
	method, path string
	body         any    // marshalled as JSON, unless a string or []byte
	ctype        string // Content-Type; application/json when there is a body
	noCtype      bool   // send no Content-Type
	idem         string // Idempotency-Key
	noAuth       bool   // send no Authorization
	auth         string // Authorization, instead of the test key
	cookie       string // a __Host-session cookie
	from         string // the client's address (127.0.0.1 by default)
	header       http.Header

	// invalid marks a request that breaks the document (so the validator
	// must reject it, as the server does); anyDoc skips that check for a
	// request the document cannot describe (e.g. a repeated header).
	invalid bool
	anyDoc  bool

	want int    // expected status
	code string // expected problem code
}

// resp is a checked response.
type resp struct {
	status   int
	header   http.Header
	raw      []byte
	obj      map[string]any
	replayed bool
}

func (r *resp) str(path ...string) string {
	var v any = r.obj
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (r *resp) list() []map[string]any {
	var out []map[string]any
	data, _ := r.obj["data"].([]any)
	for _, d := range data {
		out = append(out, d.(map[string]any))
	}
	return out
}

func (q req) bodyBytes(t testing.TB) []byte {
	switch b := q.body.(type) {
	case nil:
		return nil
	case string:
		return []byte(b)
	case []byte:
		return b
	default:
		out, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func (q req) build(base, key string, body []byte) (*http.Request, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequest(q.method, base+q.path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range q.header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if body != nil && !q.noCtype {
		ct := q.ctype
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	if q.idem != "" {
		r.Header.Set("Idempotency-Key", q.idem)
	}
	if q.cookie != "" {
		r.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: q.cookie})
	}
	switch {
	case q.auth != "":
		r.Header.Set("Authorization", q.auth)
	case !q.noAuth:
		r.Header.Set("Authorization", "Bearer "+key)
	}
	return r, nil
}

// routeOf maps a request path to its pattern in httpapi.Routes.
func routeOf(method, path string) string {
	segs := strings.Split(strings.SplitN(path, "?", 2)[0], "/")
	for _, r := range httpapi.Routes {
		if r.Method != method {
			continue
		}
		ps := strings.Split(r.Pattern, "/")
		if len(ps) != len(segs) {
			continue
		}
		ok := true
		for i := range ps {
			if ps[i] != segs[i] && !(strings.HasPrefix(ps[i], "{") && segs[i] != "") {
				ok = false
				break
			}
		}
		if ok {
			return r.Method + " " + r.Pattern
		}
	}
	return method + " " + path + " (no route)"
}

// send performs q without checking it (safe for concurrent use; check
// does the checks).
func (h *harness) send(q req, body []byte) (*resp, error) {
	r, err := q.build(h.srv.URL, h.key, body)
	if err != nil {
		return nil, err
	}
	res, err := h.client(q.from).Do(r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", q.method, q.path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the response: %v", q.method, q.path, err)
	}
	return &resp{status: res.StatusCode, header: res.Header, raw: raw, replayed: res.Header.Get("Idempotent-Replayed") == "true"}, nil
}

// do sends q, checks the request and the response against the document and
// the expectations, and returns the response.
func (h *harness) do(t *testing.T, q req) *resp {
	t.Helper()
	body := q.bodyBytes(t)
	out, err := h.send(q, body)
	if err != nil {
		t.Fatal(err)
	}
	h.check(t, q, body, out)
	return out
}

func (h *harness) check(t *testing.T, q req, body []byte, out *resp) {
	t.Helper()
	name := fmt.Sprintf("%s %s", q.method, q.path)
	route := routeOf(q.method, q.path)
	h.mu.Lock()
	if h.seen[route] == nil {
		h.seen[route] = map[int]int{}
	}
	h.seen[route][out.status]++
	h.checked++
	h.mu.Unlock()

	// The request against the document (a copy: the validator reads the
	// body).
	vreq, err := q.build(h.srv.URL, h.key, body)
	if err != nil {
		t.Fatal(err)
	}
	h.vmu.Lock()
	ok, errs := h.v.ValidateHttpRequest(vreq)
	h.vmu.Unlock()
	switch {
	case q.anyDoc:
	case q.invalid && ok:
		t.Errorf("%s: the document accepts this request, which the server rejects with %d", name, out.status)
	case !q.invalid && !ok:
		t.Errorf("%s: the request does not match the document:%s", name, fmtErrors(errs))
	}

	// The response against the document: status, content type, body
	// schema, headers.
	rreq, err := q.build(h.srv.URL, h.key, body)
	if err != nil {
		t.Fatal(err)
	}
	hr := &http.Response{
		StatusCode: out.status, Status: http.StatusText(out.status), Header: out.header,
		Body: io.NopCloser(bytes.NewReader(out.raw)), ContentLength: int64(len(out.raw)),
		Request: rreq,
	}
	h.vmu.Lock()
	ok, errs = h.v.ValidateHttpResponse(hr.Request, hr)
	h.vmu.Unlock()
	if !ok {
		t.Errorf("%s → %d: the response does not match the document:%s\nbody: %s", name, out.status, fmtErrors(errs), out.raw)
	}

	// What the schema cannot say.
	if out.status != q.want {
		t.Errorf("%s: status %d, want %d\nbody: %s", name, out.status, q.want, out.raw)
	}
	if len(out.raw) > 0 && (out.status >= 300 || successMedia(route) == "application/json") { // the CSV export is no JSON (wallet_test.go)
		if err := json.Unmarshal(out.raw, &out.obj); err != nil {
			t.Errorf("%s: the body is not a JSON object: %v\n%s", name, err, out.raw)
		}
	}
	ct := out.header.Get("Content-Type")
	rid := out.header.Get("X-Request-Id")
	if rid == "" {
		t.Errorf("%s: no X-Request-Id", name)
	}
	if want := q.header.Get("X-Request-Id"); want != "" && rid != want {
		t.Errorf("%s: X-Request-Id %q, want the client's %q", name, rid, want)
	}
	if out.status >= 400 {
		if ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q, want application/problem+json", name, ct)
		}
		code := out.str("code")
		if q.code != "" && code != q.code {
			t.Errorf("%s: code %q, want %q\nbody: %s", name, code, q.code, out.raw)
		}
		if typ := out.str("type"); typ != "urn:okpay:problem:"+code {
			t.Errorf("%s: type %q does not match code %q", name, typ, code)
		}
		if st, _ := out.obj["status"].(float64); int(st) != out.status {
			t.Errorf("%s: problem status %v, HTTP status %d", name, out.obj["status"], out.status)
		}
		// A replayed problem keeps the request id of the request that
		// made it; a fresh one names this request.
		if !out.replayed && out.str("request_id") != rid {
			t.Errorf("%s: request_id %q, X-Request-Id %q", name, out.str("request_id"), rid)
		}
	} else if out.status == http.StatusNoContent {
		if len(out.raw) != 0 || ct != "" {
			t.Errorf("%s: 204 with Content-Type %q and %d bytes", name, ct, len(out.raw))
		}
	} else if want := successContentType(route); ct != want { // JSON, except the CSV export (wallet_test.go)
		t.Errorf("%s: Content-Type %q, want %s", name, ct, want)
	}
	if cc := out.header.Get("Cache-Control"); q.path != "/api/openapi.json" && cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
	}
}

// client returns an HTTP client whose connections come from ip (any
// 127.0.0.0/8 address), so that per-address limits can be told apart.
func (h *harness) client(ip string) *http.Client {
	if ip == "" {
		return h.srv.Client()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.clients[ip]; c != nil {
		return c
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	h.clients[ip] = c
	return c
}

func (h *harness) account(t *testing.T, body map[string]any) string {
	t.Helper()
	r := h.do(t, req{method: "POST", path: "/api/v1/accounts", body: body, want: 201})
	if r.str("id") == "" {
		t.Fatalf("no account id in %s", r.raw)
	}
	return r.str("id")
}

var keyN atomic.Int64

// newKey returns a fresh Idempotency-Key.
func newKey() string { return fmt.Sprintf("test-key-%04d", keyN.Add(1)) }

func usd(a string) map[string]any { return map[string]any{"amount": a, "currency": "USD"} }

func (h *harness) balance(t *testing.T, acct, which string) string {
	t.Helper()
	r := h.do(t, req{method: "GET", path: "/api/v1/accounts/" + acct, want: 200})
	return r.str("balance", which, "amount")
}

func TestOpenAPIConformance(t *testing.T) {
	start := time.Now()
	h := newHarness(t)

	unknownAcc := ids.Format("acc", 999_999_999)
	unknownEnt := ids.Format("ent", 999_999_999)
	big := func(v map[string]any) string { // a valid body padded past MaxBody with whitespace
		b, _ := json.Marshal(v)
		return string(b[:len(b)-1]) + strings.Repeat(" ", httpapi.MaxBody) + "}"
	}

	var alice, merchant, external, fees, aliceCNY, spender string

	t.Run("openapi.json", func(t *testing.T) {
		r := h.do(t, req{method: "GET", path: "/api/openapi.json", noAuth: true, want: 200})
		if !bytes.Equal(r.raw, httpapi.OpenAPI) {
			t.Error("GET /api/openapi.json does not serve openapi.json")
		}
		h.do(t, req{method: "GET", path: "/api/openapi.json", header: http.Header{"X-Request-Id": {"client-req-0001"}}, noAuth: true, want: 200})
	})

	t.Run("accounts", func(t *testing.T) {
		alice = h.account(t, map[string]any{"owner": "cus_alice", "currency": "USD", "kind": "user_wallet", "flags": []string{"no_overdraft"}, "metadata": map[string]string{"channel": "app"}})
		merchant = h.account(t, map[string]any{"owner": "mer_shop", "currency": "USD", "kind": "merchant"})
		fees = h.account(t, map[string]any{"code": "house:fees:USD", "owner": "house", "currency": "USD", "kind": "fees"})
		aliceCNY = h.account(t, map[string]any{"owner": "cus_alice", "currency": "CNY", "kind": "user_wallet", "flags": []string{"no_overdraft"}})
		spender = h.account(t, map[string]any{"owner": "cus_bob", "currency": "USD", "kind": "user_wallet", "flags": []string{"no_overdraft"}})
		ext := map[string]any{"code": "house:external:card:USD", "owner": "house", "currency": "USD", "kind": "external"}
		external = h.account(t, ext)
		if again := h.account(t, ext); again != external {
			t.Errorf("opening an account with an existing code: got %s, want the existing %s", again, external)
		}
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"code": "house:external:card:USD", "owner": "house", "currency": "USD", "kind": "clearing"}, want: 409, code: "conflict"})

		// 401.
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: ext, noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: ext, auth: "Bearer okp_not-a-key", want: 401, code: "unauthorized"})
		// The scheme's name is case-insensitive (RFC 9110).
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice", auth: "bearer " + h.key, want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice", auth: "BEARER " + h.key, want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice", auth: "Basic " + h.key, invalid: true, want: 401, code: "unauthorized"})
		// 400.
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: `{"currency": "USD", "kind": "merchant", "colour": "red"}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: `{"currency": "USD",`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: `{"currency": "USD", "kind": "merchant"} {}`, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: `{"currency": "USD", "kind": "merchant", "metadata": {"a": [[[[[[[[1]]]]]]]]}}`, invalid: true, want: 400, code: "invalid_request"})
		// 415, 413.
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: "currency=USD&kind=merchant", ctype: "application/x-www-form-urlencoded", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: big(map[string]any{"owner": "cus_x", "currency": "USD", "kind": "merchant"}), want: 413, code: "request_too_large"})
		// 422.
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"currency": "USD", "kind": "piggy_bank"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"currency": "XYZ", "kind": "merchant"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"currency": "USD", "kind": "merchant", "flags": "no_overdraft"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"currency": "USD", "kind": "merchant", "flags": []string{"frozen"}}, invalid: true, want: 422, code: "validation_failed"})
		// Metadata keys are limited in bytes: 21 characters of 2 bytes each
		// pass the schema's maxLength (characters) but not the server.
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"owner": "cus_x", "currency": "USD", "kind": "merchant", "metadata": map[string]string{strings.Repeat("é", 21): "x"}}, want: 422, code: "validation_failed"})
		// No owner; an owner or a metadata value that is not text (a NUL,
		// refused by PostgreSQL's text, answered 500 there), which no
		// schema pattern describes.
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"currency": "USD", "kind": "merchant"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"owner": "a\u0000b", "currency": "USD", "kind": "merchant"}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"owner": "a\u202eb", "currency": "USD", "kind": "merchant"}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"owner": "cus_x", "currency": "USD", "kind": "merchant", "metadata": map[string]string{"k": "a\u0000b"}}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=a%00b", want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=a%ffb", want: 422, code: "validation_failed"})
		// Problems in Chinese are still problems.
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"currency": "USD", "kind": "piggy_bank"}, header: http.Header{"Accept-Language": {"zh-CN"}}, invalid: true, want: 422, code: "validation_failed"})
		// The client's request id is echoed, also in problems.
		h.do(t, req{method: "POST", path: "/api/v1/accounts", body: map[string]any{"currency": "USD"}, header: http.Header{"X-Request-Id": {"client-req-0002"}}, invalid: true, want: 422, code: "validation_failed"})

		// Lists.
		r := h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice", want: 200})
		if got := len(r.list()); got != 2 || r.obj["has_more"] != false || r.obj["next_cursor"] != nil {
			t.Errorf("cus_alice's accounts: %s", r.raw)
		}
		r = h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice&limit=1", want: 200})
		if len(r.list()) != 1 || r.obj["has_more"] != true || r.str("next_cursor") != aliceCNY {
			t.Errorf("first page: %s", r.raw)
		}
		r = h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice&limit=1&cursor=" + r.str("next_cursor"), want: 200})
		if l := r.list(); len(l) != 1 || l[0]["id"] != alice || r.obj["has_more"] != false {
			t.Errorf("second page: %s", r.raw)
		}
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=nobody", want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice&limit=100", want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/accounts", invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=", invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice&limit=0", invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice&limit=101", invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice&limit=ten", invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice&cursor=" + unknownEnt, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts?owner=cus_alice", noAuth: true, invalid: true, want: 401, code: "unauthorized"})

		// One account.
		r = h.do(t, req{method: "GET", path: "/api/v1/accounts/" + alice, want: 200})
		if r.str("owner") != "cus_alice" || r.str("balance", "available", "amount") != "0.00" {
			t.Errorf("alice: %s", r.raw)
		}
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + fees, want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + unknownAcc, want: 404, code: "account_not_found"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/nope", invalid: true, want: 404, code: "not_found"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + unknownEnt, invalid: true, want: 404, code: "not_found"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + alice, noAuth: true, invalid: true, want: 401, code: "unauthorized"})
	})

	var payment string // alice → merchant, 25.00

	t.Run("transfers", func(t *testing.T) {
		tr := func(from, to string, amount any) map[string]any {
			return map[string]any{"from": from, "to": to, "amount": amount}
		}
		// Funding: the external account may go negative.
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(external, alice, usd("100.00")), want: 201})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(external, spender, usd("10")), want: 201})
		if got := h.balance(t, external, "posted"); got != "-110.00" {
			t.Errorf("external posted balance %s, want -110.00", got)
		}

		key := newKey()
		body := map[string]any{"from": alice, "to": merchant, "amount": usd("25.00"), "reference": "order-1001", "type": "card.payment", "metadata": map[string]string{"order": "A-1001"}}
		r := h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: key, body: body, want: 201})
		payment = r.str("id")
		if r.replayed || r.str("status") != "posted" || r.str("reference") != "order-1001" {
			t.Errorf("transfer: %s", r.raw)
		}
		// Replay: same key, same body.
		again := h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: key, body: body, want: 201})
		if !again.replayed || !bytes.Equal(again.raw, r.raw) {
			t.Errorf("replay: Idempotent-Replayed=%q, body %s; want true and %s", again.header.Get("Idempotent-Replayed"), again.raw, r.raw)
		}
		// Same key, another body.
		other := maps.Clone(body)
		other["amount"] = usd("26.00")
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: key, body: other, want: 422, code: "idempotency_key_reused"})
		// Same reference: same content returns the original, other content conflicts.
		if r2 := h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: body, want: 201}); r2.str("id") != payment {
			t.Errorf("retried reference: got entry %s, want %s", r2.str("id"), payment)
		}
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: other, want: 409, code: "reference_conflict"})
		if got := h.balance(t, alice, "posted"); got != "75.00" {
			t.Errorf("alice's balance %s after a replayed transfer, want 75.00", got)
		}

		// Insufficient funds, stored and replayed.
		key = newKey()
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: key, body: tr(alice, merchant, usd("1000.00")), want: 422, code: "insufficient_funds"})
		if r := h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: key, body: tr(alice, merchant, usd("1000.00")), want: 422, code: "insufficient_funds"}); !r.replayed {
			t.Error("a stored failure was not replayed with Idempotent-Replayed: true")
		}

		// Idempotency-Key problems.
		h.do(t, req{method: "POST", path: "/api/v1/transfers", body: tr(alice, merchant, usd("1.00")), invalid: true, want: 400, code: "idempotency_key_required"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: "has space", body: tr(alice, merchant, usd("1.00")), invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: strings.Repeat("k", 256), body: tr(alice, merchant, usd("1.00")), invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", header: http.Header{"Idempotency-Key": {"k-one-1", "k-two-2"}}, body: tr(alice, merchant, usd("1.00")), anyDoc: true, want: 400, code: "invalid_request"})

		// Money must be a string amount with a known currency.
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, merchant, map[string]any{"amount": 10, "currency": "USD"}), invalid: true, want: 422, code: "invalid_amount"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, merchant, map[string]any{"amount": "1e3", "currency": "USD"}), invalid: true, want: 422, code: "invalid_amount"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, merchant, map[string]any{"amount": "1.00", "currency": "USD", "fx": "no"}), invalid: true, want: 422, code: "invalid_amount"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, merchant, usd("1.234")), want: 422, code: "too_many_decimals"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, merchant, usd("-1.00")), invalid: true, want: 422, code: "negative_amount"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, merchant, map[string]any{"amount": "1.00", "currency": "XYZ"}), invalid: true, want: 422, code: "unknown_currency"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, merchant, usd("0.00")), invalid: true, want: 422, code: "validation_failed"})
		// Fields.
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, alice, usd("1.00")), want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr("alice", merchant, usd("1.00")), invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: map[string]any{"from": alice, "to": merchant}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: map[string]any{"from": alice, "to": merchant, "amount": usd("1.00"), "type": "Bad Type"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: map[string]any{"from": alice, "to": merchant, "amount": usd("1.00"), "memo": "hi"}, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, aliceCNY, usd("1.00")), want: 422, code: "currency_mismatch"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, unknownAcc, usd("1.00")), want: 404, code: "account_not_found"})
		// Transport.
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: tr(alice, merchant, usd("1.00")), noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: `from=x`, ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: big(tr(alice, merchant, usd("1.00"))), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: `[]`, invalid: true, want: 400, code: "invalid_request"})

		// Concurrent retries of one request: each is the transfer, its
		// replay, or 409 while the first is in flight; the money moves once.
		key = newKey()
		body = tr(alice, merchant, usd("1.00"))
		const n = 8
		var wg sync.WaitGroup
		type exchange struct {
			body []byte
			r    *resp
		}
		results := make([]exchange, n)
		errs := make([]error, n)
		q := req{method: "POST", path: "/api/v1/transfers", idem: key, body: body}
		raw := q.bodyBytes(t)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := h.send(q, raw)
				results[i], errs[i] = exchange{raw, r}, err
			}()
		}
		wg.Wait()
		created, inFlight := map[string]bool{}, 0
		for i, x := range results {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			want := 201
			if x.r.status == 409 {
				want = 409
			}
			h.check(t, req{method: "POST", path: "/api/v1/transfers", idem: key, body: body, want: want}, x.body, x.r)
			if x.r.status == 201 {
				created[x.r.str("id")] = true
			} else if x.r.str("code") != "idempotency_request_in_flight" {
				t.Errorf("concurrent retry: %s", x.r.raw)
			} else {
				inFlight++
			}
		}
		t.Logf("%d concurrent retries: %d answered 409 idempotency_request_in_flight", n, inFlight)
		if len(created) != 1 {
			t.Errorf("concurrent retries created %d entries, want 1", len(created))
		}
		if got := h.balance(t, alice, "posted"); got != "74.00" {
			t.Errorf("alice's balance %s after concurrent retries, want 74.00", got)
		}
	})

	var split string // alice → merchant 9.70 + alice → fees 0.30

	t.Run("entries", func(t *testing.T) {
		posting := func(d, c string, amount any) map[string]any {
			return map[string]any{"debit": d, "credit": c, "amount": amount}
		}
		body := map[string]any{
			"reference": "order-1002", "type": "payment",
			"postings":     []any{posting(alice, merchant, usd("9.70")), posting(alice, fees, usd("0.3"))},
			"effective_at": "2026-11-25T00:00:00Z", "metadata": map[string]string{"order": "A-1002"},
		}
		r := h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: body, want: 201})
		split = r.str("id")
		if ps, _ := r.obj["postings"].([]any); len(ps) != 2 || r.str("effective_at") != "2026-11-25T00:00:00Z" {
			t.Errorf("entry: %s", r.raw)
		}
		if got := h.balance(t, fees, "posted"); got != "0.30" {
			t.Errorf("fees balance %s, want 0.30", got)
		}
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("1.00"))}, "timeout_seconds": 0}, want: 201})

		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"postings": []any{posting(alice, merchant, usd("1.00"))}}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{}}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("1.00"))}, "timeout_seconds": 60}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("1.00"))}, "effective_at": "yesterday"}, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, map[string]any{"amount": 1.5, "currency": "USD"})}}, invalid: true, want: 422, code: "invalid_amount"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("500.00"))}}, want: 422, code: "insufficient_funds"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, unknownAcc, usd("1.00"))}}, want: 404, code: "account_not_found"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("1.00"))}, "reference": "order-1002"}, want: 409, code: "reference_conflict"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("1.00"))}}, invalid: true, want: 400, code: "idempotency_key_required"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("1.00"))}, "pending": true}, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: "{}", ctype: "application/xml", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: big(map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("1.00"))}}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/entries", idem: newKey(), body: map[string]any{"type": "payment", "postings": []any{posting(alice, merchant, usd("1.00"))}}, noAuth: true, invalid: true, want: 401, code: "unauthorized"})

		// Reading entries.
		r = h.do(t, req{method: "GET", path: "/api/v1/entries/" + split, want: 200})
		if r.str("type") != "payment" {
			t.Errorf("entry: %s", r.raw)
		}
		h.do(t, req{method: "GET", path: "/api/v1/entries/" + unknownEnt, want: 404, code: "entry_not_found"})
		h.do(t, req{method: "GET", path: "/api/v1/entries/" + alice, invalid: true, want: 404, code: "not_found"})
		h.do(t, req{method: "GET", path: "/api/v1/entries/" + split, noAuth: true, invalid: true, want: 401, code: "unauthorized"})

		// An account's entries, newest first, page by page.
		var got []string
		path := "/api/v1/accounts/" + alice + "/entries?limit=2"
		for page := 0; ; page++ {
			r := h.do(t, req{method: "GET", path: path, want: 200})
			for _, e := range r.list() {
				got = append(got, e["id"].(string))
			}
			if r.obj["has_more"] != true || page > 10 {
				if r.obj["next_cursor"] != nil {
					t.Errorf("last page has a next_cursor: %s", r.raw)
				}
				break
			}
			path = "/api/v1/accounts/" + alice + "/entries?limit=2&cursor=" + r.str("next_cursor")
		}
		if len(got) != 5 || got[0] <= got[1] {
			t.Errorf("alice's entries %v: want 5, newest first", got)
		}
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + alice + "/entries", want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + alice + "/entries?limit=100", want: 200})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + unknownAcc + "/entries", want: 404, code: "account_not_found"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/x/entries", invalid: true, want: 404, code: "not_found"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + alice + "/entries?limit=-1", invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + alice + "/entries?cursor=" + alice, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "GET", path: "/api/v1/accounts/" + alice + "/entries", noAuth: true, invalid: true, want: 401, code: "unauthorized"})
	})

	t.Run("reversals", func(t *testing.T) {
		rev := func(id string) string { return "/api/v1/entries/" + id + "/reverse" }
		r := h.do(t, req{method: "POST", path: rev(payment), idem: newKey(), body: map[string]any{"reference": "refund-1001-a", "amounts": []any{usd("5.00")}, "metadata": map[string]string{"reason": "damaged"}}, want: 201})
		if r.str("type") != "reversal" || r.str("reverses_id") != payment {
			t.Errorf("reversal: %s", r.raw)
		}
		h.do(t, req{method: "POST", path: rev(payment), idem: newKey(), body: map[string]any{"amounts": []any{usd("50.00")}}, want: 422, code: "exceeds_reversible_amount"})
		h.do(t, req{method: "POST", path: rev(payment), idem: newKey(), body: map[string]any{"amounts": []any{usd("1.00"), usd("1.00")}}, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: rev(payment), idem: newKey(), body: map[string]any{"amounts": []any{usd("1.001")}}, want: 422, code: "too_many_decimals"})
		// Reversing nothing is a mistake in the request, not a business
		// refusal (it was 409 not_reversible, stored under the key).
		h.do(t, req{method: "POST", path: rev(payment), idem: newKey(), body: map[string]any{"amounts": []any{usd("0.00")}}, want: 422, code: "validation_failed"})
		// An empty body reverses the rest; then nothing is left.
		h.do(t, req{method: "POST", path: rev(payment), idem: newKey(), noCtype: true, want: 201})
		h.do(t, req{method: "POST", path: rev(payment), idem: newKey(), body: map[string]any{}, want: 409, code: "not_reversible"})
		r = h.do(t, req{method: "GET", path: "/api/v1/entries/" + payment, want: 200})
		if rb, _ := r.obj["reversed_by"].([]any); len(rb) != 2 {
			t.Errorf("the reversed entry: %s", r.raw)
		}
		// A reversal that would overdraw: spender spent what it received.
		funding := h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: map[string]any{"from": external, "to": spender, "amount": usd("5.00")}, want: 201}).str("id")
		h.do(t, req{method: "POST", path: "/api/v1/transfers", idem: newKey(), body: map[string]any{"from": spender, "to": merchant, "amount": usd("15.00")}, want: 201})
		h.do(t, req{method: "POST", path: rev(funding), idem: newKey(), want: 422, code: "insufficient_funds"})

		h.do(t, req{method: "POST", path: rev(unknownEnt), idem: newKey(), want: 404, code: "entry_not_found"})
		h.do(t, req{method: "POST", path: rev("ent_bad"), idem: newKey(), invalid: true, want: 404, code: "not_found"})
		h.do(t, req{method: "POST", path: rev(split), body: map[string]any{}, invalid: true, want: 400, code: "idempotency_key_required"})
		h.do(t, req{method: "POST", path: rev(split), idem: newKey(), body: map[string]any{"why": "x"}, invalid: true, want: 400, code: "invalid_request"})
		h.do(t, req{method: "POST", path: rev(split), idem: newKey(), body: map[string]any{"amounts": []any{map[string]any{"amount": 1, "currency": "USD"}, usd("0")}}, invalid: true, want: 422, code: "invalid_amount"})
		h.do(t, req{method: "POST", path: rev(split), idem: newKey(), body: "x", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: rev(split), idem: newKey(), body: big(map[string]any{"reference": "r-big"}), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: rev(split), idem: newKey(), noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		// A reference already used elsewhere.
		h.do(t, req{method: "POST", path: rev(split), idem: newKey(), body: map[string]any{"reference": "order-1001"}, want: 409, code: "reference_conflict"})
		// Partial amounts with a zero skip a posting.
		h.do(t, req{method: "POST", path: rev(split), idem: newKey(), body: map[string]any{"amounts": []any{usd("0"), usd("0.30")}}, want: 201})
	})

	t.Run("holds", func(t *testing.T) {
		hold := func(amount string, timeout int) map[string]any {
			b := map[string]any{"type": "card.authorization", "postings": []any{map[string]any{"debit": alice, "credit": merchant, "amount": usd(amount)}}}
			if timeout != 0 {
				b["timeout_seconds"] = timeout
			}
			return b
		}
		post := func(id string) string { return "/api/v1/holds/" + id + "/post" }
		void := func(id string) string { return "/api/v1/holds/" + id + "/void" }

		before := h.balance(t, alice, "available")
		r := h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("40.00", 3600), want: 201})
		h1 := r.str("id")
		if r.str("phase") != "pending" || r.str("status") != "pending" || r.str("expires_at") == "" {
			t.Errorf("hold: %s", r.raw)
		}
		acct := h.do(t, req{method: "GET", path: "/api/v1/accounts/" + alice, want: 200})
		if acct.str("balance", "pending_debits", "amount") != "40.00" || acct.str("balance", "available", "amount") == before {
			t.Errorf("alice after the hold: %s", acct.raw)
		}
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("1000.00", 0), want: 422, code: "insufficient_funds"})
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("1.00", 7776001), invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("1.00", -5), invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/holds", body: hold("1.00", 0), invalid: true, want: 400, code: "idempotency_key_required"})
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: `{"type": "x", "postings": 3}`, invalid: true, want: 422, code: "validation_failed"})
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: `<hold/>`, ctype: "application/xml", invalid: true, want: 415, code: "unsupported_media_type"})
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: big(hold("1.00", 0)), want: 413, code: "request_too_large"})
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: map[string]any{"type": "x", "postings": []any{map[string]any{"debit": unknownAcc, "credit": merchant, "amount": usd("1.00")}}}, want: 404, code: "account_not_found"})
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("1.00", 0), noAuth: true, invalid: true, want: 401, code: "unauthorized"})
		withRef := hold("1.00", 0)
		withRef["reference"] = "order-1001"
		h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: withRef, want: 409, code: "reference_conflict"})
		// A hold is not reversible.
		h.do(t, req{method: "POST", path: "/api/v1/entries/" + h1 + "/reverse", idem: newKey(), want: 409, code: "not_reversible"})

		// Post part of it, once.
		h.do(t, req{method: "POST", path: post(h1), idem: newKey(), body: map[string]any{"amounts": []any{usd("50.00")}}, want: 422, code: "exceeds_pending_amount"})
		h.do(t, req{method: "POST", path: post(h1), idem: newKey(), body: map[string]any{"amounts": []any{usd("1.00"), usd("1.00")}}, want: 422, code: "validation_failed"})
		key := newKey()
		r = h.do(t, req{method: "POST", path: post(h1), idem: key, body: map[string]any{"reference": "capture-77", "amounts": []any{usd("30.00")}}, want: 201})
		if ps, _ := r.obj["postings"].([]any); r.str("phase") != "post" || r.str("pending_id") != h1 || len(ps) != 1 {
			t.Errorf("post: %s", r.raw)
		}
		if again := h.do(t, req{method: "POST", path: post(h1), idem: key, body: map[string]any{"reference": "capture-77", "amounts": []any{usd("30.00")}}, want: 201}); !again.replayed {
			t.Error("the post was not replayed")
		}
		h.do(t, req{method: "POST", path: post(h1), idem: newKey(), want: 409, code: "pending_already_resolved"})
		h.do(t, req{method: "POST", path: void(h1), idem: newKey(), want: 409, code: "pending_already_resolved"})
		r = h.do(t, req{method: "GET", path: "/api/v1/entries/" + h1, want: 200})
		if r.str("status") != "posted" || r.str("resolved_by") == "" {
			t.Errorf("the posted hold: %s", r.raw)
		}
		// The resolution itself can be reversed (phase post).
		h.do(t, req{method: "POST", path: "/api/v1/entries/" + r.str("resolved_by") + "/reverse", idem: newKey(), body: map[string]any{"amounts": []any{usd("1.00")}}, want: 201})

		// Void another, with an empty body.
		h2 := h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("5.00", 0), want: 201}).str("id")
		h.do(t, req{method: "POST", path: void(h2), idem: newKey(), body: map[string]any{"amounts": []any{usd("1.00")}}, invalid: true, want: 422, code: "validation_failed"})
		r = h.do(t, req{method: "POST", path: void(h2), idem: newKey(), noCtype: true, want: 201})
		if r.str("phase") != "void" || r.str("status") != "voided" {
			t.Errorf("void: %s", r.raw)
		}
		h.do(t, req{method: "POST", path: post(h2), idem: newKey(), body: map[string]any{}, want: 409, code: "pending_already_resolved"})
		if r := h.do(t, req{method: "GET", path: "/api/v1/entries/" + h2, want: 200}); r.str("status") != "voided" {
			t.Errorf("the voided hold: %s", r.raw)
		}

		// Post all of a third with an empty JSON body.
		h3 := h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("2.00", 0), want: 201}).str("id")
		h.do(t, req{method: "POST", path: post(h3), idem: newKey(), body: map[string]any{"metadata": map[string]string{"k": "v"}}, want: 201})

		// Unknown, malformed and non-pending ids.
		h.do(t, req{method: "POST", path: post(unknownEnt), idem: newKey(), want: 404, code: "pending_not_found"})
		h.do(t, req{method: "POST", path: void(payment), idem: newKey(), want: 404, code: "pending_not_found"})
		h.do(t, req{method: "POST", path: post("nope"), idem: newKey(), invalid: true, want: 404, code: "not_found"})
		h.do(t, req{method: "POST", path: void("ent_"), idem: newKey(), invalid: true, want: 404, code: "not_found"})
		// Transport and keys.
		for _, p := range []string{post(h3), void(h3)} {
			h.do(t, req{method: "POST", path: p, invalid: true, want: 400, code: "idempotency_key_required"})
			h.do(t, req{method: "POST", path: p, idem: newKey(), noAuth: true, invalid: true, want: 401, code: "unauthorized"})
			h.do(t, req{method: "POST", path: p, idem: newKey(), body: "{}", ctype: "text/plain", invalid: true, want: 415, code: "unsupported_media_type"})
			h.do(t, req{method: "POST", path: p, idem: newKey(), body: big(map[string]any{"reference": "r-big"}), want: 413, code: "request_too_large"})
			h.do(t, req{method: "POST", path: p, idem: newKey(), body: map[string]any{"note": "x"}, invalid: true, want: 400, code: "invalid_request"})
			h.do(t, req{method: "POST", path: p, idem: newKey(), body: map[string]any{"reference": "has space"}, invalid: true, want: 422, code: "validation_failed"})
		}
		h.do(t, req{method: "POST", path: post(h3), idem: newKey(), body: map[string]any{"amounts": []any{usd("-1")}}, invalid: true, want: 422, code: "negative_amount"})
		h.do(t, req{method: "POST", path: void(h3), idem: newKey(), body: map[string]any{"amounts": []any{map[string]any{"amount": "1", "currency": "usd"}}}, invalid: true, want: 422, code: "unknown_currency"})

		// Expiry: past its timeout a hold cannot be posted or voided; the
		// sweeper voids it.
		h4 := h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("3.00", 60), want: 201}).str("id")
		h5 := h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: hold("3.00", 60), want: 201}).str("id")
		h.clock.Advance(61 * time.Second)
		h.do(t, req{method: "POST", path: post(h4), idem: newKey(), want: 409, code: "pending_expired"})
		h.do(t, req{method: "POST", path: void(h5), idem: newKey(), want: 409, code: "pending_expired"})
		if _, err := h.led.SweepExpired(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := h.do(t, req{method: "GET", path: "/api/v1/entries/" + h4, want: 200}); r.str("status") != "expired" {
			t.Errorf("the expired hold: %s", r.raw)
		}
		// Released by the sweeper, it still says it expired.
		h.do(t, req{method: "POST", path: void(h4), idem: newKey(), want: 409, code: "pending_expired"})
		h.do(t, req{method: "POST", path: post(h4), idem: newKey(), want: 409, code: "pending_expired"})
		// The sweeper's entry (phase expire) is not reversible.
		r = h.do(t, req{method: "GET", path: "/api/v1/entries/" + h5, want: 200})
		h.do(t, req{method: "POST", path: "/api/v1/entries/" + r.str("resolved_by") + "/reverse", idem: newKey(), want: 409, code: "not_reversible"})
		r = h.do(t, req{method: "GET", path: "/api/v1/entries/" + r.str("resolved_by"), want: 200})
		if r.str("phase") != "expire" || r.str("status") != "expired" {
			t.Errorf("the expire entry: %s", r.raw)
		}
	})

	// The customer identity routes (identity_test.go).
	t.Run("identity", h.identityScenario)

	// The payment methods and the provider's webhook (methods_test.go).
	t.Run("payment methods", h.paymentMethodsScenario)

	// The wallet: wallets, transactions, transfers, deposits, limits
	// (wallet_test.go).
	t.Run("wallet", h.walletScenario)

	// Withdrawals (withdraw_test.go).
	t.Run("withdrawals", h.withdrawalScenario)
	// The ledger routes keep off the wallet's accounts (scope_test.go).
	t.Run("wallet accounts", h.walletScopeScenario)

	// Exchange, remittance and the public rates (exchange_test.go).
	t.Run("exchange", h.exchangeScenario)

	// The support chat (desk_test.go).
	t.Run("desk", h.deskScenario)
	t.Run("desk csat", h.deskCSATScenario)       // satisfaction and limits (desk_csat_test.go)
	t.Run("desk contact", h.deskContactScenario) // a visitor's email (desk_contact_test.go)
	t.Run("assistant", h.assistantScenario)      // self-service (assistant_test.go)
	t.Run("phone", h.phoneScenario)              // callbacks and the telephony webhook (phone_test.go)

	// Failures on OKPay's side: a ledger that is shutting down answers
	// money-moving requests with 503, a database that is gone makes every
	// authenticated request a 500 that shows no internals.
	t.Run("unavailable", func(t *testing.T) {
		hold := h.do(t, req{method: "POST", path: "/api/v1/holds", idem: newKey(), body: map[string]any{"type": "t", "postings": []any{map[string]any{"debit": alice, "credit": merchant, "amount": usd("1.00")}}}, want: 201}).str("id")
		h.led.Close()
		posting := []any{map[string]any{"debit": alice, "credit": merchant, "amount": usd("1.00")}}
		for _, q := range []req{
			{method: "POST", path: "/api/v1/transfers", body: map[string]any{"from": alice, "to": merchant, "amount": usd("1.00")}},
			{method: "POST", path: "/api/v1/entries", body: map[string]any{"type": "t", "postings": posting}},
			{method: "POST", path: "/api/v1/holds", body: map[string]any{"type": "t", "postings": posting}},
			{method: "POST", path: "/api/v1/holds/" + hold + "/post"},
			{method: "POST", path: "/api/v1/holds/" + hold + "/void"},
			{method: "POST", path: "/api/v1/entries/" + payment + "/reverse"},
		} {
			q.idem, q.want, q.code = newKey(), 503, "unavailable"
			h.do(t, q)
		}
	})
	t.Run("internal errors", func(t *testing.T) {
		h.db.Close()
		for _, q := range []req{
			{method: "POST", path: "/api/v1/accounts", body: map[string]any{"owner": "cus_x", "currency": "USD", "kind": "merchant"}},
			{method: "GET", path: "/api/v1/accounts?owner=cus_alice"},
			{method: "GET", path: "/api/v1/accounts/" + alice},
			{method: "GET", path: "/api/v1/accounts/" + alice + "/entries"},
			{method: "GET", path: "/api/v1/entries/" + payment},
		} {
			q.want, q.code = 500, "internal_error"
			r := h.do(t, q)
			if d := r.str("detail"); strings.Contains(d, "sql") || strings.Contains(d, "closed") {
				t.Errorf("%s %s: the detail shows internals: %q", q.method, q.path, d)
			}
		}
		for _, q := range h.identityWithoutDatabase() {
			q.want, q.code = 500, "internal_error"
			r := h.do(t, q)
			if d := r.str("detail"); strings.Contains(d, "sql") || strings.Contains(d, "closed") {
				t.Errorf("%s %s: the detail shows internals: %q", q.method, q.path, d)
			}
		}
		h.do(t, req{method: "GET", path: "/api/openapi.json", noAuth: true, want: 200})
	})

	t.Run("coverage", func(t *testing.T) {
		_, m := loadModel(t)
		ops := operations(m)
		var untested []string
		for _, rt := range httpapi.Routes {
			key := rt.Method + " " + rt.Pattern
			seen := h.seen[key]
			ok2, ok4 := false, false
			for st := range seen {
				ok2 = ok2 || st < 300
				ok4 = ok4 || st >= 400
			}
			if !ok2 {
				t.Errorf("%s: no success exercised", key)
			}
			if !ok4 && key != "GET /api/openapi.json" {
				t.Errorf("%s: no error exercised", key)
			}
			for code := range ops[key].Responses.Codes.FromOldest() {
				var st int
				fmt.Sscan(code, &st)
				if seen[st] == 0 {
					untested = append(untested, key+" "+code)
				}
			}
		}
		sort.Strings(untested)
		t.Logf("%d exchanges checked against openapi.json in %v; documented responses not exercised: %v", h.checked, time.Since(start).Round(time.Millisecond), untested)
	})
}
