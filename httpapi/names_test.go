package httpapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
)

type namesInner struct {
	Note string `json:"note"`
}

type namesEmbedded struct {
	Tag string `json:"tag"`
}

type namesRequest struct {
	namesEmbedded
	Amount  money.Amount      `json:"amount"`
	Payee   string            `json:"payee"`
	Ignored string            `json:"-"`
	Inner   *namesInner       `json:"inner"`
	List    []namesInner      `json:"list"`
	Meta    map[string]string `json:"meta"`
	Plain   int
}

// TestDecodeNames: member names are matched with their case and given
// once, at every depth decode knows the type of; map keys and the values
// a type decodes itself are not looked into.
func TestDecodeNames(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string // "" accepted, else a fragment of the error
	}{
		{`{"amount":{"amount":"1.00","currency":"USD"},"payee":"a","inner":{"note":"x"},"list":[{"note":"y"}],"meta":{"Any":"case","any":"ok"},"tag":"t","Plain":1}`, ""},
		{`{"Payee":"a"}`, `unknown field "Payee" (names are case-sensitive: "payee")`},
		{`{"PAYEE":"a"}`, `"payee"`},
		{`{"inner":{"Note":"x"}}`, `unknown field "Note"`},
		{`{"list":[{"note":"y"},{"NOTE":"z"}]}`, `unknown field "NOTE"`},
		{`{"Tag":"t"}`, `"tag"`},   // an embedded struct's field
		{`{"plain":1}`, `"Plain"`}, // an untagged field's name is its own
		{`{"payee":"a","payee":"b"}`, `field "payee" appears twice`},
		{`{"inner":{"note":"x","note":"y"}}`, `appears twice`},
		{`{"ignored":"x"}`, `unknown field`},                        // json:"-": encoding/json's own refusal
		{`{"amount":{"Amount":"1.00","currency":"USD"}}`, `amount`}, // money checks its own names
		{`{"liſt":[]}`, `names are case-sensitive: "list"`},         // ſ folds to s, as encoding/json matches
		{`{"payee":"a"} }`, `one JSON object`},                      // a stray closing brace after the object
		{`{"payee":"a"}]`, `one JSON object`},
		{"{\"payee\":\"a\"} \r\n\t", ""},
	} {
		var v namesRequest
		err := decode([]byte(tc.body), &v)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.body, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.body, err, tc.want)
		case tc.want != "" && okpay.ErrorCode(err) == "":
			t.Errorf("%s: an uncoded error %v", tc.body, err)
		}
	}
}

// FuzzDecodeNames: what decode accepts, encoding/json accepts alike (the
// name check only refuses), and every member name of an accepted body's
// top-level object is one of the type's, with its case, given once.
func FuzzDecodeNames(f *testing.F) {
	for _, s := range []string{`{"payee":"a","inner":{"note":"x"}}`, `{"Payee":"a"}`, `{"p\u0061yee":"a","PAYEE":1}`, `{"list":[{"note":1,"NOTE":2}],"meta":{}}`, `{"payee":"a","payee":"b"}`, `{"list":[{"note":"y"}]}`, `{"meta":{"A":"b"}}`, `[1]`, `{`} {
		f.Add(s)
	}
	names, _ := structNames(reflect.TypeFor[namesRequest]())
	f.Fuzz(func(t *testing.T, body string) {
		// The scanner of bodies without escapes answers as the token
		// walker does.
		if !strings.Contains(body, `\`) && json.Valid([]byte(body)) {
			sc := nameScanner{b: []byte(body)}
			fast, ok := sc.value(reflect.TypeFor[*namesRequest]())
			if slow := walkBody([]byte(body), reflect.TypeFor[*namesRequest](), true); !ok || fast != slow {
				t.Fatalf("%q: the scanner says %q (%v), the walker %q", body, fast, ok, slow)
			}
		}
		var v namesRequest
		if decode([]byte(body), &v) != nil {
			return
		}
		var plain namesRequest
		if err := json.Unmarshal([]byte(body), &plain); err != nil {
			t.Fatalf("decode accepted %q, encoding/json did not: %v", body, err)
		}
		var top map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &top) != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(body))
		dec.Token()
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return
			}
			key := k.(string)
			if _, ok := names[key]; !ok || seen[key] {
				t.Fatalf("decode accepted %q with member %q", body, key)
			}
			seen[key] = true
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return
			}
		}
	})
}

type amountsRequest struct {
	Amount   *money.Amount `json:"amount"`
	Postings []struct {
		Amount *money.Amount `json:"amount"`
	} `json:"postings"`
	Meta map[string]string `json:"meta"`
}

// TestDecodeAmountPath: a refused amount keeps its code, and the problem
// names the member, at any depth.
func TestDecodeAmountPath(t *testing.T) {
	for _, tc := range []struct {
		body, code, path string
	}{
		{`{"amount":{"amount":"1.001","currency":"USD"}}`, money.CodeTooManyDecimals, "amount"},
		{`{"amount":{"amount":"1.00","currency":"USD"},"postings":[{"amount":{"amount":"2.00","currency":"EUR"}},{"amount":{"amount":"-1","currency":"EUR"}}]}`, money.CodeNegativeAmount, "postings[1].amount"},
		{`{"meta":{"amount":"x"},"postings":[{"amount":{"amount":1,"currency":"USD"}}]}`, money.CodeInvalidAmount, "postings[0].amount"},
		{`{"amount":{"amount":"1","currency":"XXY"}}`, money.CodeUnknownCurrency, "amount"},
	} {
		var v amountsRequest
		err := decode([]byte(tc.body), &v)
		var e *okpay.Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Fields[tc.path] == "" || len(e.Fields) != 1 {
			t.Errorf("%s: %#v, want %s at %s", tc.body, err, tc.code, tc.path)
		}
	}
	var v amountsRequest
	if err := decode([]byte(`{"amount":null,"postings":[{"amount":{"amount":"1.00","currency":"USD"}}]}`), &v); err != nil {
		t.Fatalf("valid amounts: %v", err)
	}
}
