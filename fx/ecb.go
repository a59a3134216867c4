package fx

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/okpay/okpay/money"
)

// Observed is one rate as a source reported it, valid as of AsOf.
type Observed struct {
	Rate Rate
	AsOf time.Time
}

// Batch is what a parser read from a feed or file: the rates, and the
// entries it left out (with the reason, for the importer's report).
type Batch struct {
	Rates   []Observed
	Skipped []string
}

// The XML namespaces of the ECB reference-rate files.
const (
	nsGesmes = "http://www.gesmes.org/xml/2002-08-01"
	nsECB    = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
)

// Limits on an ECB document: the full history since 1999
// (eurofxref-hist.xml) is about 7,000 days of ~30 rates.
const (
	MaxECBBytes = 32 << 20
	maxECBDays  = 20000
	maxECBRates = 64 // per day
)

type ecbEnvelope struct {
	XMLName xml.Name `xml:"http://www.gesmes.org/xml/2002-08-01 Envelope"`
	Subject string   `xml:"http://www.gesmes.org/xml/2002-08-01 subject"`
	Cubes   []struct {
		Days []struct {
			Time  string `xml:"time,attr"`
			Rates []struct {
				Currency string `xml:"currency,attr"`
				Rate     string `xml:"rate,attr"`
				Inner    []struct {
					XMLName xml.Name
				} `xml:",any"`
			} `xml:"http://www.ecb.int/vocabulary/2002-08-01/eurofxref Cube"`
		} `xml:"http://www.ecb.int/vocabulary/2002-08-01/eurofxref Cube"`
	} `xml:"http://www.ecb.int/vocabulary/2002-08-01/eurofxref Cube"`
}

// ParseECB reads the European Central Bank's euro foreign exchange
// reference rates in the format of eurofxref-daily.xml (also the 90-day
// and full-history files, which hold one dated Cube per day):
//
//	<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
//	    xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
//	  <gesmes:subject>Reference rates</gesmes:subject>
//	  <Cube>
//	    <Cube time="2026-01-09">
//	      <Cube currency="USD" rate="1.1658"/> ...
//
// Each rate is EUR→currency as of the date's 14:10 Frankfurt time (CET or
// CEST), when the ECB's daily concertation fixes the rates.
//
// Parsing is strict: the document must be well-formed UTF-8 XML of at
// most MaxECBBytes with the Envelope root in the gesmes namespace, the
// subject "Reference rates", exactly one outer Cube holding at least one
// day, each day a valid date given once, each rate a plain positive
// decimal (see ParseRate) for a currency given once that day. A
// well-formed code this program does not know (a currency withdrawn from
// ISO 4217, such as BGN after 2025) is left out and listed in Skipped; a
// malformed one fails the whole document. XML has no external entities in
// Go, so the parser never reaches outside the input.
func ParseECB(r io.Reader) (*Batch, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxECBBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fx: read ECB rates: %w", err)
	}
	if len(data) > MaxECBBytes {
		return nil, fmt.Errorf("fx: ECB rates: the document is larger than %d bytes", MaxECBBytes)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var env ecbEnvelope
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("fx: ECB rates: not a reference-rate document: %w", err)
	}
	// Nothing but white space and comments may follow the root.
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fx: ECB rates: %w", err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("fx: ECB rates: text after the document")
			}
		default:
			return nil, fmt.Errorf("fx: ECB rates: content after the document")
		}
	}
	if strings.TrimSpace(env.Subject) != "Reference rates" {
		return nil, fmt.Errorf("fx: ECB rates: subject is %q, want \"Reference rates\"", clip(env.Subject))
	}
	if len(env.Cubes) != 1 {
		return nil, fmt.Errorf("fx: ECB rates: want one outer Cube, found %d", len(env.Cubes))
	}
	days := env.Cubes[0].Days
	if len(days) == 0 {
		return nil, fmt.Errorf("fx: ECB rates: the document holds no dated Cube")
	}
	if len(days) > maxECBDays {
		return nil, fmt.Errorf("fx: ECB rates: more than %d days", maxECBDays)
	}
	b := &Batch{}
	seenDay := map[string]bool{}
	for _, day := range days {
		date, err := time.Parse(time.DateOnly, day.Time)
		if err != nil || date.Format(time.DateOnly) != day.Time {
			return nil, fmt.Errorf("fx: ECB rates: Cube time %q is not a date YYYY-MM-DD", clip(day.Time))
		}
		if seenDay[day.Time] {
			return nil, fmt.Errorf("fx: ECB rates: day %s appears twice", day.Time)
		}
		seenDay[day.Time] = true
		if len(day.Rates) == 0 {
			return nil, fmt.Errorf("fx: ECB rates: day %s holds no rates", day.Time)
		}
		if len(day.Rates) > maxECBRates {
			return nil, fmt.Errorf("fx: ECB rates: day %s holds more than %d rates", day.Time, maxECBRates)
		}
		asOf := ECBFixingTime(date)
		seenCcy := map[string]bool{}
		for _, c := range day.Rates {
			if len(c.Inner) > 0 {
				return nil, fmt.Errorf("fx: ECB rates: day %s: a currency Cube must be empty", day.Time)
			}
			if !isCode(c.Currency) {
				return nil, fmt.Errorf("fx: ECB rates: day %s: currency %q is not an ISO 4217 code", day.Time, clip(c.Currency))
			}
			if seenCcy[c.Currency] {
				return nil, fmt.Errorf("fx: ECB rates: day %s: %s appears twice", day.Time, c.Currency)
			}
			seenCcy[c.Currency] = true
			if c.Currency == "EUR" {
				return nil, fmt.Errorf("fx: ECB rates: day %s: a rate for EUR itself", day.Time)
			}
			v, msg := parseDecimal(c.Rate)
			if msg != "" {
				return nil, fmt.Errorf("fx: ECB rates: day %s: %s rate %q: %s", day.Time, c.Currency, clip(c.Rate), msg)
			}
			ccy := money.Currency(c.Currency)
			if !ccy.Valid() {
				b.Skipped = append(b.Skipped, fmt.Sprintf("%s on %s: unknown currency", c.Currency, day.Time))
				continue
			}
			b.Rates = append(b.Rates, Observed{Rate: Rate{Base: "EUR", Quote: ccy, v: v}, AsOf: asOf})
		}
	}
	return b, nil
}

// isCode reports whether s is three uppercase ASCII letters.
func isCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// clip cuts outside input echoed in an error message.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// ECBFixingTime returns 14:10 Frankfurt time on the date of d (its year,
// month and day), the moment the ECB's reference rates of that day are
// fixed. Frankfurt keeps CET (UTC+1) and, from the last Sunday of March to
// the last Sunday of October, CEST (UTC+2); the EU rule is computed here so
// no time-zone database is needed.
func ECBFixingTime(d time.Time) time.Time {
	y, m, day := d.Date()
	date := time.Date(y, m, day, 0, 0, 0, 0, time.UTC)
	offset := time.Hour // CET
	if !date.Before(lastSunday(y, time.March)) && date.Before(lastSunday(y, time.October)) {
		offset = 2 * time.Hour // CEST
	}
	return date.Add(14*time.Hour + 10*time.Minute - offset)
}

// lastSunday returns midnight UTC of the last Sunday of month m in year y.
func lastSunday(y int, m time.Month) time.Time {
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC)
	return last.AddDate(0, 0, -int(last.Weekday()))
}

// FormatECB writes rates (all EUR→X) as an ECB reference-rate document,
// one dated Cube per distinct as-of date in the order first seen. It is
// the inverse of ParseECB, for tests and for exporting a fixture.
func FormatECB(w io.Writer, rates []Observed) error {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<gesmes:Envelope xmlns:gesmes="` + nsGesmes + `" xmlns="` + nsECB + `">` + "\n")
	b.WriteString("\t<gesmes:subject>Reference rates</gesmes:subject>\n")
	b.WriteString("\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n")
	b.WriteString("\t<Cube>\n")
	var order []string
	byDay := map[string][]Observed{}
	for _, o := range rates {
		if o.Rate.Base != "EUR" || o.Rate.IsZero() {
			return fmt.Errorf("fx: FormatECB: %s→%s is not a EUR rate", o.Rate.Base, o.Rate.Quote)
		}
		n, exact := o.Rate.v.FloatPrec()
		if !exact || n > maxFracDigits {
			return fmt.Errorf("fx: FormatECB: %s rate has no short decimal form", o.Rate.Quote)
		}
		d := o.AsOf.UTC().Format(time.DateOnly)
		if _, ok := byDay[d]; !ok {
			order = append(order, d)
		}
		byDay[d] = append(byDay[d], o)
	}
	for _, d := range order {
		fmt.Fprintf(&b, "\t\t<Cube time='%s'>\n", d)
		for _, o := range byDay[d] {
			fmt.Fprintf(&b, "\t\t\t<Cube currency='%s' rate='%s'/>\n", o.Rate.Quote, o.Rate.Exact())
		}
		b.WriteString("\t\t</Cube>\n")
	}
	b.WriteString("\t</Cube>\n</gesmes:Envelope>\n")
	_, err := w.Write(b.Bytes())
	return err
}
