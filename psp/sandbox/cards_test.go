package sandbox

import (
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)

func TestTestCardsAreValidAndDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range TestCards() {
		d, ok := normalizePAN(c.Number)
		if !ok || !luhn(d) {
			t.Errorf("%s fails the Luhn check", c.Number)
		}
		if got := brandOf(d); got != c.Brand {
			t.Errorf("%s: brand %q, want %q", c.Number, got, c.Brand)
		}
		if behaviourOf(d) != c.Behaviour {
			t.Errorf("%s: behaviour %q, want %q", c.Number, behaviourOf(d), c.Behaviour)
		}
		seen[c.Behaviour] = true
	}
	for _, b := range []string{behaveSucceed, behaveDecline, behaveInsufficient, behaveChallenge, behavePayoutFail, behaveNoPayouts} {
		if !seen[b] {
			t.Errorf("no test card for behaviour %q", b)
		}
	}
}

func TestLuhn(t *testing.T) {
	for s, want := range map[string]bool{
		"4242424242424242": true, "4242424242424241": false, "79927398713": true, "79927398710": false,
		"0": true, "": false, "42a2": false, "378282246310005": true, "6200000000000005": true,
	} {
		if got := luhn(s); got != want {
			t.Errorf("luhn(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestBrandFromBIN(t *testing.T) {
	for pan, want := range map[string]string{
		"4111111111111111": "visa",
		"5105105105105100": "mastercard",
		"2221000000000009": "mastercard",
		"2720990000000007": "mastercard",
		"371449635398431":  "amex",
		"340000000000009":  "amex",
		"6011111111111117": "discover",
		"6445644564456445": "discover",
		"6500000000000002": "discover",
		"6200000000000005": "unionpay",
		"8100000000000000": "unionpay",
		"3530111333300000": "jcb",
		"3589000000000000": "jcb",
		"30569309025904":   "diners",
		"36227206271667":   "diners",
		"5018000000000009": "maestro",
		"1234567812345670": "unknown",
	} {
		if got := brandOf(pan); got != want {
			t.Errorf("brandOf(%s) = %q, want %q", pan, got, want)
		}
	}
}

func TestCRD01_CheckCard(t *testing.T) {
	type in struct {
		pan    string
		m, y   int
		cvc    string
		wantOK bool
		want   map[string]string
	}
	for name, c := range map[string]in{
		"good":              {"4242 4242 4242 4242", 12, 2030, "123", true, nil},
		"dashes, 2-digit y": {"4242-4242-4242-4242", 3, 26, "123", true, nil},
		"this month":        {"4242424242424242", 3, 2026, "123", true, nil},
		"last month":        {"4242424242424242", 2, 2026, "123", false, map[string]string{"expiry": problemExpired}},
		"month 13":          {"4242424242424242", 13, 2030, "123", false, map[string]string{"expiry": problemExpiry}},
		"month 0":           {"4242424242424242", 0, 2030, "123", false, map[string]string{"expiry": problemExpiry}},
		"far future":        {"4242424242424242", 1, 2099, "123", false, map[string]string{"expiry": problemExpiry}},
		"luhn":              {"4242424242424241", 12, 2030, "123", false, map[string]string{"number": problemNumber}},
		"short":             {"424242424242", 12, 2030, "123", false, map[string]string{"number": problemNumber}},
		"long":              {"42424242424242424242", 12, 2030, "123", false, map[string]string{"number": problemNumber}},
		"letters":           {"4242 4242 4242 424x", 12, 2030, "123", false, map[string]string{"number": problemNumber}},
		"cvc 2":             {"4242424242424242", 12, 2030, "12", false, map[string]string{"cvc": problemCVC}},
		"cvc 4 on visa":     {"4242424242424242", 12, 2030, "1234", false, map[string]string{"cvc": problemCVC}},
		"cvc letters":       {"4242424242424242", 12, 2030, "12a", false, map[string]string{"cvc": problemCVC}},
		"amex cvc 4":        {"378282246310005", 12, 2030, "1234", true, nil},
		"amex cvc 3":        {"378282246310005", 12, 2030, "123", false, map[string]string{"cvc": problemCVC}},
		"all wrong":         {"1", -1, -1, "", false, map[string]string{"number": problemNumber, "expiry": problemExpiry, "cvc": problemCVC}},
	} {
		f, problems := checkCard(c.pan, c.m, c.y, c.cvc, now)
		if c.wantOK {
			if problems != nil {
				t.Errorf("%s: problems %v", name, problems)
			}
			if f.last4 != strings.ReplaceAll(strings.ReplaceAll(c.pan, " ", ""), "-", "")[len(f.digits)-4:] || f.expYear < 2000 {
				t.Errorf("%s: facts %+v", name, f)
			}
			continue
		}
		if len(problems) != len(c.want) {
			t.Errorf("%s: problems %v, want %v", name, problems, c.want)
		}
		for k, v := range c.want {
			if problems[k] != v {
				t.Errorf("%s: problems %v, want %v", name, problems, c.want)
			}
		}
	}
}

func TestNormalizeIBAN(t *testing.T) {
	for s, want := range map[string]bool{
		"GB82WEST12345698765432": true, "gb82 west 1234 5698 7654 32": true, "DE89370400440532013000": true,
		"GB94FAIL12345698765432": true, "GB83WEST12345698765432": false, "GB82": false, "8282WEST12345698765432": false,
		"GB82WEST1234569876543_": false,
	} {
		if _, ok := normalizeIBAN(s); ok != want {
			t.Errorf("normalizeIBAN(%q) ok = %v, want %v", s, ok, want)
		}
	}
}

func TestParseTokenRequest(t *testing.T) {
	r, err := parseTokenRequest("application/json", []byte(`{"number":"4242424242424242","exp_month":12,"exp_year":"2030","cvc":"123"}`))
	if err != nil || r.Number != "4242424242424242" || r.ExpMonth != 12 || r.ExpYear != 2030 || r.CVC != "123" || r.Form {
		t.Fatalf("JSON: %+v %v", r, err)
	}
	r, err = parseTokenRequest("application/x-www-form-urlencoded; charset=utf-8",
		[]byte(`number=4242+4242+4242+4242&exp=12%2F30&cvc=123&return_to=%2Fwallet&lang=zh-CN&submit=x`))
	if err != nil || r.ExpMonth != 12 || r.ExpYear != 30 || r.ReturnTo != "/wallet" || r.Lang != "zh-CN" || !r.Form {
		t.Fatalf("form: %+v %v", r, err)
	}
	r, err = parseTokenRequest("application/json", []byte(`{"number":"4242424242424242","exp_month":"ab","cvc":"123"}`))
	if err != nil || r.ExpMonth != -1 || r.ExpYear != 0 {
		t.Fatalf("bad month: %+v %v", r, err)
	}
	for name, c := range map[string][2]string{
		"unknown field":  {"application/json", `{"number":"1","pan":"2"}`},
		"case folded":    {"application/json", `{"Number":"1"}`},
		"duplicate":      {"application/json", `{"number":"1","number":"2"}`},
		"nested":         {"application/json", `{"number":{"a":1}}`},
		"float":          {"application/json", `{"exp_month":1.5}`},
		"negative":       {"application/json", `{"exp_month":-1}`},
		"bool":           {"application/json", `{"cvc":true}`},
		"trailing":       {"application/json", `{"cvc":"1"} {}`},
		"array":          {"application/json", `[]`},
		"return_to json": {"application/json", `{"return_to":"/x"}`},
		"too long":       {"application/json", `{"number":"` + strings.Repeat("4", 33) + `"}`},
		"form duplicate": {"application/x-www-form-urlencoded", `number=1&number=2`},
		"form bad":       {"application/x-www-form-urlencoded", `number=%zz`},
		"text":           {"text/plain", `number=1`},
		"no type":        {"", `{}`},
	} {
		if _, err := parseTokenRequest(c[0], []byte(c[1])); err == nil {
			t.Errorf("%s: accepted %s", name, c[1])
		}
	}
}

// FuzzParseTokenRequest (REL-08): the hosted field's input parser never
// panics, and what it accepts is bounded.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add("application/json", []byte(`{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}`))
	f.Add("application/json", []byte(`{"number":"4242 4242 4242 4242","exp":"12/30","cvc":"123"}`))
	f.Add("application/x-www-form-urlencoded", []byte(`number=4242424242424242&exp=12%2F2030&cvc=123&return_to=%2Fsandbox%2F`))
	f.Add("application/json; charset=utf-8", []byte(`{"number":"1","number":"2"}`))
	f.Add("application/json", []byte(`{"exp_month":99999999999999999999}`))
	f.Add("multipart/form-data; boundary=x", []byte("--x--"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		r, err := parseTokenRequest(ct, body)
		if err != nil {
			return
		}
		if len(r.Number) > 32 || len(r.CVC) > 8 || len(r.ReturnTo) > 1024 || len(r.Lang) > 8 {
			t.Fatalf("accepted oversized fields: %+v", r)
		}
		if r.ExpMonth < -1 || r.ExpMonth > 9999 || r.ExpYear < -1 || r.ExpYear > 9999 {
			t.Fatalf("accepted out-of-range expiry: %+v", r)
		}
		if _, problems := checkCard(r.Number, r.ExpMonth, r.ExpYear, r.CVC, now); problems == nil {
			if d, ok := normalizePAN(r.Number); !ok || !luhn(d) {
				t.Fatalf("checkCard accepted an invalid number %q", r.Number)
			}
		}
		if p := safeLocalPath(r.ReturnTo); p != "/" && (!strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//")) {
			t.Fatalf("unsafe return path %q", p)
		}
	})
}

func TestSafeLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/wallet/cards?x=1": "/wallet/cards?x=1", "//evil.test": "/", "/\\evil.test": "/", "https://evil.test/": "/",
		"wallet": "/", "": "/", "/a\nb": "/",
	} {
		if got := safeLocalPath(in); got != want {
			t.Errorf("safeLocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}
