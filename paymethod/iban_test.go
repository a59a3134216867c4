package paymethod

import (
	"math/big"
	"strings"
	"testing"

	"github.com/okpay/okpay"
)

// oracleMod97 is an independent mod-97 check with big integers.
func oracleMod97(s string) int64 {
	r := s[4:] + s[:4]
	var digits strings.Builder
	for _, c := range r {
		if c >= 'A' && c <= 'Z' {
			digits.WriteString(big.NewInt(int64(c - 'A' + 10)).String())
		} else {
			digits.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(digits.String(), 10)
	return new(big.Int).Mod(n, big.NewInt(97)).Int64()
}

// makeIBAN builds a valid IBAN of country from a BBAN.
func makeIBAN(country, bban string) string {
	check := 98 - oracleMod97(country+"00"+bban)
	return country + string(rune('0'+check/10)) + string(rune('0'+check%10)) + bban
}

func TestParseIBANValid(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"DE89370400440532013000", "DE89370400440532013000"},
		{"DE89 3704 0044 0532 0130 00", "DE89370400440532013000"},
		{"de89-3704-0044-0532-0130-00", "DE89370400440532013000"},
		{"IBAN DE89 3704 0044 0532 0130 00", "DE89370400440532013000"},
		{" GB29 NWBK 6016 1331 9268 19 ", "GB29NWBK60161331926819"},
		{"FR14 2004 1010 0505 0001 3M02 606", "FR1420041010050500013M02606"},
		{"NL91ABNA0417164300", "NL91ABNA0417164300"},
		{"BE68539007547034", "BE68539007547034"},
		{"CH9300762011623852957", "CH9300762011623852957"},
		{"NO9386011117947", "NO9386011117947"},
		{"MT84MALT011000012345MTLCAST001S", "MT84MALT011000012345MTLCAST001S"},
		{"LC55HEMM000100010012001200023015", "LC55HEMM000100010012001200023015"},
	} {
		got, err := ParseIBAN(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("ParseIBAN(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// Every country of the table, with a generated BBAN of its length.
	for cc, n := range ibanLengths {
		bban := strings.Repeat("1234567890", 4)[:n-4]
		in := makeIBAN(cc, bban)
		got, err := ParseIBAN(in)
		if err != nil || string(got) != in {
			t.Errorf("%s: ParseIBAN(%q) = %q, %v", cc, in, got, err)
		}
	}
}

func TestParseIBANInvalid(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"spaces only", "   "},
		{"wrong checksum", "DE89370400440532013001"},
		{"swapped digits", "DE89370400440532031000"},
		{"wrong check digits", "DE88370400440532013000"},
		{"too short", "DE8937040044053201300"},
		{"too long", "DE893704004405320130000"},
		{"unknown country", "XX89370400440532013000"},
		{"US has no IBAN", "US12345678901234567890"},
		{"digits for country", "1289370400440532013000"},
		{"letters for check digits", "DEAB370400440532013000"},
		{"check digits 00", "DE00370400440532013000"},
		{"check digits 01", "DE01370400440532013000"},
		{"check digits 99", "DE99370400440532013000"},
		{"punctuation", "DE89/3704/0044/0532/0130/00"},
		{"non-ASCII", "DE89 3704 0044 0532 0130 0０"},
		{"only country", "DE"},
		{"IBAN word only", "IBAN"},
		{"far too long", strings.Repeat("DE89 ", 30)},
	} {
		got, err := ParseIBAN(tc.in)
		if err == nil {
			t.Errorf("%s: ParseIBAN(%q) = %q, want an error", tc.name, tc.in, got)
			continue
		}
		var e *okpay.Error
		if code := okpay.ErrorCode(err); code != okpay.EInvalid {
			t.Errorf("%s: code %q", tc.name, code)
		}
		if okErr, ok := err.(*okpay.Error); !ok || okErr.Fields["iban"] == "" {
			t.Errorf("%s: no message for the iban field: %v", tc.name, err)
		} else {
			e = okErr
			if len(strings.TrimSpace(tc.in)) > 4 && strings.Contains(e.Fields["iban"], strings.TrimSpace(tc.in)) {
				t.Errorf("%s: message repeats the input: %q", tc.name, e.Fields["iban"])
			}
		}
	}
	// The check digits 99 give the same remainder as 02: the mod-97 test
	// alone would accept both.
	valid := makeIBAN("DE", "370400440532013000")
	if valid[2:4] == "02" {
		if _, err := ParseIBAN("DE99" + valid[4:]); err == nil {
			t.Error("check digits 99 accepted")
		}
	}
}

// Every substitution of a digit for another digit, or of a letter for
// another letter, is caught by mod 97 (97 is a prime larger than any
// difference of two character values).
func TestParseIBANDetectsSingleErrors(t *testing.T) {
	const valid = "GB29NWBK60161331926819"
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for i := 2; i < len(valid); i++ {
		for _, c := range chars {
			if byte(c) == valid[i] || isDigit(byte(c)) != isDigit(valid[i]) {
				continue
			}
			mut := valid[:i] + string(c) + valid[i+1:]
			if _, err := ParseIBAN(mut); err == nil {
				t.Errorf("ParseIBAN(%q) accepted a one-character change at %d", mut, i)
			}
		}
	}
}

func TestIBANFormatAndMask(t *testing.T) {
	iban, err := ParseIBAN("DE89370400440532013000")
	if err != nil {
		t.Fatal(err)
	}
	if got := iban.Format(); got != "DE89 3704 0044 0532 0130 00" {
		t.Errorf("Format = %q", got)
	}
	if got := iban.Mask(); got != "DE89 •••• 3000" {
		t.Errorf("Mask = %q", got)
	}
	if got := iban.String(); got != "DE89 •••• 3000" {
		t.Errorf("String = %q (must be masked)", got)
	}
	if iban.Country() != "DE" || iban.Last4() != "3000" {
		t.Errorf("Country %q Last4 %q", iban.Country(), iban.Last4())
	}
	no, _ := ParseIBAN("NO9386011117947")
	if got := no.Mask(); got != "NO93 •••• 7947" {
		t.Errorf("Mask = %q", got)
	}
}

func FuzzParseIBAN(f *testing.F) {
	for _, s := range []string{
		"DE89370400440532013000", "de89 3704 0044 0532 0130 00", "IBAN GB29NWBK60161331926819",
		"FR1420041010050500013M02606", "DE99370400440532013000", "", "IBAN", "XX00", "NO9386011117947",
		"LC55HEMM000100010012001200023015", "DE89-3704.0044\t0532 0130 00", "ÄÖ89370400440532013000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseIBAN(in)
		// The oracle: the same normalisation, then the registry length,
		// check digits 02..98 and the big-integer remainder.
		norm := strings.ToUpper(strings.NewReplacer(" ", "", "-", "", ".", "", "\t", "").Replace(in))
		norm = strings.TrimPrefix(norm, "IBAN")
		want := len(in) <= maxIBANInput && len(norm) >= 4 && ibanLengths[norm[:min(2, len(norm))]] == len(norm)
		if want {
			for i := 0; i < len(norm); i++ {
				c := norm[i]
				if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') || i >= 2 && i < 4 && !(c >= '0' && c <= '9') {
					want = false
				}
			}
			// strings.ToUpper maps some non-ASCII letters to ASCII (the
			// Kelvin sign to K); ParseIBAN accepts only ASCII input.
			for i := 0; i < len(in); i++ {
				if in[i] >= 0x80 {
					want = false
				}
			}
		}
		if want {
			check := int(norm[2]-'0')*10 + int(norm[3]-'0')
			want = check >= 2 && check <= 98 && oracleMod97(norm) == 1
		}
		if (err == nil) != want {
			t.Fatalf("ParseIBAN(%q) = %q, %v; oracle says valid=%v", in, got, err, want)
		}
		if err != nil {
			if okpay.ErrorCode(err) != okpay.EInvalid {
				t.Fatalf("ParseIBAN(%q): code %q", in, okpay.ErrorCode(err))
			}
			return
		}
		if string(got) != norm {
			t.Fatalf("ParseIBAN(%q) = %q, want %q", in, got, norm)
		}
		again, err := ParseIBAN(got.Format())
		if err != nil || again != got {
			t.Fatalf("round trip of %q: %q, %v", got, again, err)
		}
		if m := got.Mask(); strings.Contains(strings.ReplaceAll(m, " ", ""), string(got[4:len(got)-4])) && len(got) > 12 {
			t.Fatalf("Mask(%q) = %q shows the middle", got, m)
		}
	})
}
