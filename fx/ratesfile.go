package fx

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/okpay/okpay/money"
)

// Limits on a rates file.
const (
	MaxRatesFileBytes = 1 << 20
	maxRatesFileRows  = 10000
)

// ratesHeader is the required first record of a rates file.
var ratesHeader = []string{"base", "quote", "rate", "as_of"}

// ParseRatesFile reads OKPay's rates file, a CSV document (RFC 4180, UTF-8,
// at most 1 MiB) such as:
//
//	# Treasury rates for Monday morning
//	base,quote,rate,as_of
//	EUR,CNY,7.6543,2026-01-12T09:00:00+08:00
//	USD,HKD,7.7712,2026-01-12T09:00:00+08:00
//
// Lines starting with '#' are comments. The first record must be the
// header base,quote,rate,as_of exactly. Then one record per rate, four
// fields without spaces or quotes: base and quote are supported ISO 4217
// codes that differ; rate is a plain positive decimal (see ParseRate) — one
// unit of base is worth rate units of quote; as_of is the RFC 3339 time the
// rate is valid from, with its offset. A pair may appear more than once
// only with different as_of times. Any error fails the whole file and
// names its line.
func ParseRatesFile(r io.Reader) (*Batch, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRatesFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fx: read rates file: %w", err)
	}
	if len(data) > MaxRatesFileBytes {
		return nil, fmt.Errorf("fx: rates file is larger than %d bytes", MaxRatesFileBytes)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comment = '#'
	cr.FieldsPerRecord = len(ratesHeader)
	cr.ReuseRecord = true
	lineErr := func(line int, format string, args ...any) error {
		return fmt.Errorf("fx: rates file line %d: %s", line, fmt.Sprintf(format, args...))
	}
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("fx: rates file is empty: it needs the header base,quote,rate,as_of")
	}
	if err != nil {
		return nil, fmt.Errorf("fx: rates file: %w", err)
	}
	if strings.Join(head, ",") != strings.Join(ratesHeader, ",") {
		line, _ := cr.FieldPos(0)
		return nil, lineErr(line, "the header must be base,quote,rate,as_of")
	}
	type key struct {
		base, quote money.Currency
		asOf        int64
	}
	seen := map[key]int{}
	b := &Batch{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fx: rates file: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(b.Rates) >= maxRatesFileRows {
			return nil, lineErr(line, "more than %d rates", maxRatesFileRows)
		}
		for i, f := range rec {
			if f == "" || strings.ContainsAny(f, " \t\r\n\"") {
				return nil, lineErr(line, "field %s is empty or holds spaces or quotes", ratesHeader[i])
			}
		}
		base, quote := money.Currency(rec[0]), money.Currency(rec[1])
		if !base.Valid() {
			return nil, lineErr(line, "base %q is not a supported currency", clip(rec[0]))
		}
		if !quote.Valid() {
			return nil, lineErr(line, "quote %q is not a supported currency", clip(rec[1]))
		}
		if base == quote {
			return nil, lineErr(line, "base and quote are both %s", base)
		}
		v, msg := parseDecimal(rec[2])
		if msg != "" {
			return nil, lineErr(line, "rate %q: %s", clip(rec[2]), msg)
		}
		asOf, err := time.Parse(time.RFC3339Nano, rec[3])
		if err != nil {
			return nil, lineErr(line, "as_of %q is not an RFC 3339 time such as 2026-01-12T09:00:00+08:00", clip(rec[3]))
		}
		asOf = asOf.UTC().Truncate(time.Microsecond)
		if y := asOf.Year(); y < 1999 || y > 9999 {
			return nil, lineErr(line, "as_of %q is out of range", clip(rec[3]))
		}
		k := key{base, quote, asOf.UnixMicro()}
		if prev, dup := seen[k]; dup {
			return nil, lineErr(line, "%s→%s as of %s repeats line %d", base, quote, rec[3], prev)
		}
		seen[k] = line
		b.Rates = append(b.Rates, Observed{Rate: Rate{Base: base, Quote: quote, v: v}, AsOf: asOf})
	}
	return b, nil
}

// FormatRatesFile writes rates in the format ParseRatesFile reads. Rates
// without a short decimal form (cross rates) cannot be written.
func FormatRatesFile(w io.Writer, rates []Observed) error {
	var b bytes.Buffer
	b.WriteString(strings.Join(ratesHeader, ",") + "\n")
	for _, o := range rates {
		if o.Rate.IsZero() {
			return errors.New("fx: FormatRatesFile: zero rate")
		}
		if n, exact := o.Rate.v.FloatPrec(); !exact || n > maxFracDigits {
			return fmt.Errorf("fx: FormatRatesFile: %s→%s has no short decimal form", o.Rate.Base, o.Rate.Quote)
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", o.Rate.Base, o.Rate.Quote, o.Rate.Exact(), o.AsOf.UTC().Format(time.RFC3339Nano))
	}
	_, err := w.Write(b.Bytes())
	return err
}
