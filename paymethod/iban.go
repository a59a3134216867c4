package paymethod

import (
	"strconv"
	"strings"

	"github.com/okpay/okpay"
)

// ibanLengths is the length of a country's IBAN, from the SWIFT IBAN
// registry (ISO 13616), release of December 2024. A country that is not
// listed has no IBAN.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
	"DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
	"GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
	"LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
	"MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
	"YE": 30,
}

// maxIBANInput bounds what ParseIBAN reads: the longest IBAN (34
// characters) with a separator between every character and some margin.
const maxIBANInput = 100

// IBAN is a validated International Bank Account Number in its electronic
// form: upper case, no spaces ("DE89370400440532013000").
type IBAN string

// ParseIBAN reads an IBAN as a person types it — upper or lower case, with
// spaces, hyphens or dots between groups, optionally prefixed "IBAN" — and
// checks it: a known country, that country's length, letters and digits
// only, check digits 02..98 and the ISO 7064 mod-97 checksum. The error is
// an EInvalid *okpay.Error on the field "iban" that says what is wrong,
// without repeating the input.
func ParseIBAN(s string) (IBAN, error) {
	bad := func(msg string) (IBAN, error) {
		return "", okpay.Invalid(map[string]string{"iban": msg})
	}
	if len(s) > maxIBANInput {
		return bad("This is too long to be an IBAN.")
	}
	b := make([]byte, 0, 34)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '.' || c == '\t':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return bad("An IBAN has only letters and digits.")
		}
		b = append(b, c)
	}
	if len(b) >= 4 && string(b[:4]) == "IBAN" {
		b = b[4:] // the paper form's "IBAN DE89 ..."
	}
	if len(b) == 0 {
		return bad("Enter the IBAN of the account.")
	}
	if len(b) < 4 || !isUpper(b[0]) || !isUpper(b[1]) {
		return bad("An IBAN starts with a two-letter country code.")
	}
	want, ok := ibanLengths[string(b[:2])]
	if !ok {
		return bad("This country does not use IBANs, or the country code is wrong.")
	}
	if len(b) != want {
		return bad("An IBAN of this country has " + strconv.Itoa(want) + " characters; this one has " + strconv.Itoa(len(b)) + ".")
	}
	if !isDigit(b[2]) || !isDigit(b[3]) {
		return bad("The third and fourth characters of an IBAN are check digits.")
	}
	if check := int(b[2]-'0')*10 + int(b[3]-'0'); check < 2 || check > 98 {
		return bad("The check digits of this IBAN are wrong: please check it for typing errors.")
	}
	if mod97(b) != 1 {
		return bad("This IBAN is not valid: please check it for typing errors.")
	}
	return IBAN(b), nil
}

// mod97 computes the ISO 7064 MOD 97-10 remainder of an IBAN: the first
// four characters moved to the end, letters as 10..35.
func mod97(b []byte) int {
	r := 0
	add := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	for _, c := range b[4:] {
		add(c)
	}
	for _, c := range b[:4] {
		add(c)
	}
	return r
}

// Country returns the ISO 3166 country code of the IBAN.
func (i IBAN) Country() string {
	if len(i) < 2 {
		return ""
	}
	return string(i[:2])
}

// Last4 returns the last four characters.
func (i IBAN) Last4() string {
	if len(i) < 4 {
		return string(i)
	}
	return string(i[len(i)-4:])
}

// Format returns the paper form: groups of four separated by spaces
// ("DE89 3704 0044 0532 0130 00"). Only for the account's owner.
func (i IBAN) Format() string {
	var sb strings.Builder
	for k := 0; k < len(i); k++ {
		if k > 0 && k%4 == 0 {
			sb.WriteByte(' ')
		}
		sb.WriteByte(i[k])
	}
	return sb.String()
}

// Mask returns the form shown everywhere: the country code, the check
// digits and the last four characters ("DE89 •••• 3000"); never the full
// number (NOT-04).
func (i IBAN) Mask() string {
	if len(i) < 8 {
		return "••••"
	}
	return string(i[:4]) + " •••• " + i.Last4()
}

// String returns the masked form, so an IBAN printed by mistake (a log
// line, an error) does not leak.
func (i IBAN) String() string { return i.Mask() }

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
