package fx_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/fx"
)

func readFile(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestECBFixingTime(t *testing.T) {
	for _, c := range []struct{ day, want string }{
		{"2026-01-09", "2026-01-09T13:10:00Z"}, // CET
		{"2026-07-01", "2026-07-01T12:10:00Z"}, // CEST
		{"2026-03-27", "2026-03-27T13:10:00Z"}, // Friday before the switch
		{"2026-03-29", "2026-03-29T12:10:00Z"}, // last Sunday of March: CEST from 03:00
		{"2026-10-23", "2026-10-23T12:10:00Z"}, // Friday before the switch back
		{"2026-10-25", "2026-10-25T13:10:00Z"}, // last Sunday of October: CET from 03:00
		{"2025-03-30", "2025-03-30T12:10:00Z"},
		{"2025-03-28", "2025-03-28T13:10:00Z"},
	} {
		d, _ := time.Parse(time.DateOnly, c.day)
		if got := fx.ECBFixingTime(d).Format(time.RFC3339); got != c.want {
			t.Errorf("ECBFixingTime(%s) = %s, want %s", c.day, got, c.want)
		}
	}
}

func TestParseECBDaily(t *testing.T) {
	b, err := fx.ParseECB(strings.NewReader(readFile(t, "testdata/eurofxref-daily.xml")))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rates) != 29 || len(b.Skipped) != 0 {
		t.Fatalf("%d rates, skipped %v", len(b.Rates), b.Skipped)
	}
	want := time.Date(2026, 1, 9, 13, 10, 0, 0, time.UTC)
	got := map[string]string{}
	for _, o := range b.Rates {
		if o.Rate.Base != "EUR" || !o.AsOf.Equal(want) {
			t.Errorf("%s→%s as of %v", o.Rate.Base, o.Rate.Quote, o.AsOf)
		}
		got[string(o.Rate.Quote)] = o.Rate.Exact()
	}
	for ccy, rate := range map[string]string{"USD": "1.1658", "JPY": "182.47", "CNY": "8.2012", "GBP": "0.86735", "HUF": "385.4", "IDR": "19456.78"} {
		if got[ccy] != rate {
			t.Errorf("EUR→%s = %q, want %s", ccy, got[ccy], rate)
		}
	}
}

func TestParseECBHistory(t *testing.T) {
	b, err := fx.ParseECB(strings.NewReader(readFile(t, "testdata/eurofxref-hist-3d.xml")))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rates) != 9 {
		t.Errorf("%d rates, want 9", len(b.Rates))
	}
	if len(b.Skipped) != 1 || !strings.Contains(b.Skipped[0], "BGN on 2025-12-31") {
		t.Errorf("skipped %q, want BGN on 2025-12-31", b.Skipped)
	}
	last := b.Rates[len(b.Rates)-1]
	if last.Rate.Quote != "CNY" || last.Rate.Exact() != "8.2563" || !last.AsOf.Equal(time.Date(2025, 12, 31, 13, 10, 0, 0, time.UTC)) {
		t.Errorf("last rate %s %s %v", last.Rate.Quote, last.Rate.Exact(), last.AsOf)
	}
}

// ecbDoc wraps day cubes in a valid envelope.
func ecbDoc(days string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
<gesmes:subject>Reference rates</gesmes:subject><Cube>` + days + `</Cube></gesmes:Envelope>`
}

func TestParseECBRejects(t *testing.T) {
	ok := ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="1.1658"/></Cube>`)
	if _, err := fx.ParseECB(strings.NewReader(ok)); err != nil {
		t.Fatalf("the minimal document: %v", err)
	}
	bad := map[string]string{
		"empty":              "",
		"not XML":            "EUR,USD,1.1",
		"truncated":          ok[:len(ok)-10],
		"wrong root":         strings.ReplaceAll(ok, "gesmes:Envelope", "gesmes:Letter"),
		"root without ns":    strings.ReplaceAll(ok, "gesmes:", ""),
		"wrong subject":      strings.Replace(ok, "Reference rates", "Lottery numbers", 1),
		"cubes in other ns":  strings.Replace(ok, `xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"`, `xmlns="urn:other"`, 1),
		"no day":             ecbDoc(``),
		"two outer cubes":    strings.Replace(ok, "</Cube></gesmes:Envelope>", "</Cube><Cube></Cube></gesmes:Envelope>", 1),
		"day without rates":  ecbDoc(`<Cube time="2026-01-09"></Cube>`),
		"bad date":           ecbDoc(`<Cube time="2026-1-9"><Cube currency="USD" rate="1.1"/></Cube>`),
		"impossible date":    ecbDoc(`<Cube time="2026-02-30"><Cube currency="USD" rate="1.1"/></Cube>`),
		"no date":            ecbDoc(`<Cube><Cube currency="USD" rate="1.1"/></Cube>`),
		"repeated day":       ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="1.1"/></Cube><Cube time="2026-01-09"><Cube currency="JPY" rate="180"/></Cube>`),
		"lower-case code":    ecbDoc(`<Cube time="2026-01-09"><Cube currency="usd" rate="1.1"/></Cube>`),
		"long code":          ecbDoc(`<Cube time="2026-01-09"><Cube currency="USDT" rate="1.1"/></Cube>`),
		"EUR itself":         ecbDoc(`<Cube time="2026-01-09"><Cube currency="EUR" rate="1"/></Cube>`),
		"repeated currency":  ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="1.1"/><Cube currency="USD" rate="1.2"/></Cube>`),
		"no rate":            ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD"/></Cube>`),
		"comma rate":         ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="1,1658"/></Cube>`),
		"exponent rate":      ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="1.1658e0"/></Cube>`),
		"negative rate":      ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="-1.1658"/></Cube>`),
		"zero rate":          ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="0.0000"/></Cube>`),
		"spaced rate":        ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate=" 1.1658"/></Cube>`),
		"nested rate cube":   ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="1.1"><Cube currency="JPY" rate="2"/></Cube></Cube>`),
		"trailing element":   ok + "<Cube/>",
		"trailing text":      ok + "hello",
		"unknown entity":     strings.Replace(ok, "1.1658", "&rate;", 1),
		"latin1 declaration": strings.Replace(ok, "UTF-8", "ISO-8859-1", 1),
		"doctype entity": strings.Replace(strings.Replace(ok, "<gesmes:Envelope", `<!DOCTYPE x [<!ENTITY rate "1.5">]><gesmes:Envelope`, 1),
			`rate="1.1658"`, `rate="&rate;"`, 1),
	}
	for name, doc := range bad {
		if b, err := fx.ParseECB(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: accepted with %d rates", name, len(b.Rates))
		}
	}
	big := ecbDoc(strings.Repeat(" ", fx.MaxECBBytes))
	if _, err := fx.ParseECB(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a document over the limit: %v", err)
	}
}

func TestParseRatesFile(t *testing.T) {
	b, err := fx.ParseRatesFile(strings.NewReader(readFile(t, "testdata/rates.csv")))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rates) != 4 {
		t.Fatalf("%d rates", len(b.Rates))
	}
	r := b.Rates[3]
	if r.Rate.Base != "USD" || r.Rate.Quote != "KWD" || r.Rate.Exact() != "0.3071" || !r.AsOf.Equal(time.Date(2026, 1, 12, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("last rate %s→%s %s %v", r.Rate.Base, r.Rate.Quote, r.Rate.Exact(), r.AsOf)
	}
	const head = "base,quote,rate,as_of\n"
	for name, c := range map[string]struct{ doc, msg string }{
		"empty":           {"", "empty"},
		"no header":       {"EUR,CNY,7.6,2026-01-12T09:00:00Z\n", "line 1: the header"},
		"other header":    {"from,to,rate,when\n", "line 1: the header"},
		"three fields":    {head + "EUR,CNY,7.6\n", "line 2"},
		"five fields":     {head + "EUR,CNY,7.6,2026-01-12T09:00:00Z,x\n", "line 2"},
		"unknown base":    {head + "XYZ,CNY,7.6,2026-01-12T09:00:00Z\n", "line 2: base"},
		"lower quote":     {head + "EUR,cny,7.6,2026-01-12T09:00:00Z\n", "line 2: quote"},
		"same currency":   {head + "EUR,EUR,1,2026-01-12T09:00:00Z\n", "line 2: base and quote"},
		"float rate":      {head + "# c\n\nEUR,CNY,7.6e0,2026-01-12T09:00:00Z\n", "line 4: rate"},
		"zero rate":       {head + "EUR,CNY,0,2026-01-12T09:00:00Z\n", "line 2: rate"},
		"date only":       {head + "EUR,CNY,7.6,2026-01-12\n", "line 2: as_of"},
		"no offset":       {head + "EUR,CNY,7.6,2026-01-12T09:00:00\n", "line 2: as_of"},
		"spaces":          {head + "EUR, CNY,7.6,2026-01-12T09:00:00Z\n", "line 2: field quote"},
		"repeated":        {head + "EUR,CNY,7.6,2026-01-12T09:00:00Z\nEUR,CNY,7.7,2026-01-12T10:00:00+01:00\n", "line 3: EUR→CNY as of 2026-01-12T10:00:00+01:00 repeats line 2"},
		"bare quote":      {head + "EUR,C\"NY,7.6,2026-01-12T09:00:00Z\n", "bare"},
		"ancient as_of":   {head + "EUR,CNY,7.6,0001-01-01T00:00:00Z\n", "line 2: as_of"},
		"empty field":     {head + "EUR,,7.6,2026-01-12T09:00:00Z\n", "line 2: field quote"},
		"quoted newlines": {head + "EUR,\"C\nNY\",7.6,2026-01-12T09:00:00Z\n", "field quote"},
	} {
		_, err := fx.ParseRatesFile(strings.NewReader(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.msg)
		}
	}
	big := head + strings.Repeat("# padding\n", fx.MaxRatesFileBytes/10+1)
	if _, err := fx.ParseRatesFile(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file over the limit: %v", err)
	}
}

// FuzzParseECB: the parser never panics, and whatever it accepts holds
// only valid EUR rates that survive a round trip through FormatECB.
func FuzzParseECB(f *testing.F) {
	f.Add(readFile(f, "testdata/eurofxref-daily.xml"))
	f.Add(readFile(f, "testdata/eurofxref-hist-3d.xml"))
	f.Add(ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="1.1658"/></Cube>`))
	f.Add(ecbDoc(`<Cube time="2026-01-09"><Cube currency="BGN" rate="1.9558"/><Cube currency="KWD" rate="0.35"/></Cube>`))
	f.Add(ecbDoc(`<Cube time="2026-01-09"><Cube currency="USD" rate="1e3"/></Cube>`))
	f.Add(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`)
	f.Add("")
	f.Fuzz(func(t *testing.T, doc string) {
		b, err := fx.ParseECB(strings.NewReader(doc))
		if err != nil {
			return
		}
		for _, o := range b.Rates {
			if o.Rate.Base != "EUR" || o.Rate.IsZero() || o.Rate.Rat().Sign() <= 0 || !o.Rate.Quote.Valid() {
				t.Fatalf("accepted a bad rate %s→%s %s", o.Rate.Base, o.Rate.Quote, o.Rate.Exact())
			}
		}
		var buf bytes.Buffer
		if err := fx.FormatECB(&buf, b.Rates); err != nil {
			t.Fatalf("FormatECB: %v", err)
		}
		if len(b.Rates) == 0 {
			return // every currency was skipped: nothing to write back
		}
		again, err := fx.ParseECB(&buf)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, buf.String())
		}
		sameRates(t, b.Rates, again.Rates)
	})
}

// FuzzParseRatesFile: the parser never panics, and whatever it accepts
// survives a round trip through FormatRatesFile.
func FuzzParseRatesFile(f *testing.F) {
	f.Add(readFile(f, "testdata/rates.csv"))
	f.Add("base,quote,rate,as_of\nEUR,CNY,7.6543,2026-01-12T09:00:00.123456789+08:00\n")
	f.Add("base,quote,rate,as_of\r\n\"EUR\",CNY,1,2026-01-12T09:00:00Z\r\n")
	f.Add("base,quote,rate,as_of\nEUR,CNY,7.6,2026-01-12T09:00:00Z\nEUR,CNY,7.6,2026-01-12T09:00:00Z\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, doc string) {
		b, err := fx.ParseRatesFile(strings.NewReader(doc))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := fx.FormatRatesFile(&buf, b.Rates); err != nil {
			t.Fatalf("FormatRatesFile: %v", err)
		}
		again, err := fx.ParseRatesFile(&buf)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, buf.String())
		}
		sameRates(t, b.Rates, again.Rates)
	})
}

func sameRates(t *testing.T, a, b []fx.Observed) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d rates, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Rate.Base != b[i].Rate.Base || a[i].Rate.Quote != b[i].Rate.Quote || a[i].Rate.Cmp(b[i].Rate) != 0 || !a[i].AsOf.Equal(b[i].AsOf) {
			t.Fatalf("rate %d: %s→%s %s %v, then %s→%s %s %v", i, a[i].Rate.Base, a[i].Rate.Quote, a[i].Rate.Exact(), a[i].AsOf,
				b[i].Rate.Base, b[i].Rate.Quote, b[i].Rate.Exact(), b[i].AsOf)
		}
	}
}
