package money

import (
	"slices"
)

// Currency is an ISO 4217 alphabetic currency code such as "USD" or "CNY".
//
// Any string converts to a Currency; use ParseCurrency for input from outside
// the program and Valid to check a value built another way. Only the codes in
// this package's table are valid: see Currencies.
type Currency string

// exponents maps every supported currency to its ISO 4217 minor unit: the
// number of decimal digits after the point, so that one major unit is
// 10^exponent minor units.
//
// The table is ISO 4217 list one (current currencies and funds) as amended up
// to the end of 2025, written by hand from the standard's published list:
//
//   - codes whose minor unit is "N.A." are left out: precious metals (XAU,
//     XAG, XPD, XPT), bond-market units (XBA, XBB, XBC, XBD), SDR (XDR), the
//     ADB and SUCRE units (XUA, XSU), the testing code XTS and "no currency"
//     XXX;
//   - funds codes that do have a minor unit are kept (BOV, CHE, CHW, CLF,
//     COU, MXV, USN, UYI, UYW);
//   - withdrawn codes are left out: HRK (Croatia adopted the euro in 2023),
//     ZWL (replaced by ZWG in 2024), ANG (replaced by XCG in 2025) and BGN
//     (Bulgaria adopted the euro on 2026-01-01).
//
// The exponent is the ledger's scale for the currency and must never change
// once amounts in it are stored. The exponents are ISO 4217's, which differ
// from common display conventions in a few places (for instance ISO gives
// HUF, IDR and IRR two minor digits and ISK none).
var exponents = map[Currency]int{
	"AED": 2, // UAE dirham
	"AFN": 2, // Afghani
	"ALL": 2, // Lek
	"AMD": 2, // Armenian dram
	"AOA": 2, // Kwanza
	"ARS": 2, // Argentine peso
	"AUD": 2, // Australian dollar
	"AWG": 2, // Aruban florin
	"AZN": 2, // Azerbaijan manat
	"BAM": 2, // Convertible mark
	"BBD": 2, // Barbados dollar
	"BDT": 2, // Taka
	"BHD": 3, // Bahraini dinar
	"BIF": 0, // Burundi franc
	"BMD": 2, // Bermudian dollar
	"BND": 2, // Brunei dollar
	"BOB": 2, // Boliviano
	"BOV": 2, // Mvdol (funds)
	"BRL": 2, // Brazilian real
	"BSD": 2, // Bahamian dollar
	"BTN": 2, // Ngultrum
	"BWP": 2, // Pula
	"BYN": 2, // Belarusian ruble
	"BZD": 2, // Belize dollar
	"CAD": 2, // Canadian dollar
	"CDF": 2, // Congolese franc
	"CHE": 2, // WIR euro (funds)
	"CHF": 2, // Swiss franc
	"CHW": 2, // WIR franc (funds)
	"CLF": 4, // Unidad de Fomento (funds)
	"CLP": 0, // Chilean peso
	"CNY": 2, // Yuan renminbi
	"COP": 2, // Colombian peso
	"COU": 2, // Unidad de Valor Real (funds)
	"CRC": 2, // Costa Rican colón
	"CUC": 2, // Peso convertible
	"CUP": 2, // Cuban peso
	"CVE": 2, // Cabo Verde escudo
	"CZK": 2, // Czech koruna
	"DJF": 0, // Djibouti franc
	"DKK": 2, // Danish krone
	"DOP": 2, // Dominican peso
	"DZD": 2, // Algerian dinar
	"EGP": 2, // Egyptian pound
	"ERN": 2, // Nakfa
	"ETB": 2, // Ethiopian birr
	"EUR": 2, // Euro
	"FJD": 2, // Fiji dollar
	"FKP": 2, // Falkland Islands pound
	"GBP": 2, // Pound sterling
	"GEL": 2, // Lari
	"GHS": 2, // Ghana cedi
	"GIP": 2, // Gibraltar pound
	"GMD": 2, // Dalasi
	"GNF": 0, // Guinean franc
	"GTQ": 2, // Quetzal
	"GYD": 2, // Guyana dollar
	"HKD": 2, // Hong Kong dollar
	"HNL": 2, // Lempira
	"HTG": 2, // Gourde
	"HUF": 2, // Forint
	"IDR": 2, // Rupiah
	"ILS": 2, // New Israeli sheqel
	"INR": 2, // Indian rupee
	"IQD": 3, // Iraqi dinar
	"IRR": 2, // Iranian rial
	"ISK": 0, // Iceland króna
	"JMD": 2, // Jamaican dollar
	"JOD": 3, // Jordanian dinar
	"JPY": 0, // Yen
	"KES": 2, // Kenyan shilling
	"KGS": 2, // Som
	"KHR": 2, // Riel
	"KMF": 0, // Comorian franc
	"KPW": 2, // North Korean won
	"KRW": 0, // Won
	"KWD": 3, // Kuwaiti dinar
	"KYD": 2, // Cayman Islands dollar
	"KZT": 2, // Tenge
	"LAK": 2, // Lao kip
	"LBP": 2, // Lebanese pound
	"LKR": 2, // Sri Lanka rupee
	"LRD": 2, // Liberian dollar
	"LSL": 2, // Loti
	"LYD": 3, // Libyan dinar
	"MAD": 2, // Moroccan dirham
	"MDL": 2, // Moldovan leu
	"MGA": 2, // Malagasy ariary
	"MKD": 2, // Denar
	"MMK": 2, // Kyat
	"MNT": 2, // Tugrik
	"MOP": 2, // Pataca
	"MRU": 2, // Ouguiya
	"MUR": 2, // Mauritius rupee
	"MVR": 2, // Rufiyaa
	"MWK": 2, // Malawi kwacha
	"MXN": 2, // Mexican peso
	"MXV": 2, // Mexican Unidad de Inversion (funds)
	"MYR": 2, // Malaysian ringgit
	"MZN": 2, // Mozambique metical
	"NAD": 2, // Namibia dollar
	"NGN": 2, // Naira
	"NIO": 2, // Córdoba oro
	"NOK": 2, // Norwegian krone
	"NPR": 2, // Nepalese rupee
	"NZD": 2, // New Zealand dollar
	"OMR": 3, // Rial Omani
	"PAB": 2, // Balboa
	"PEN": 2, // Sol
	"PGK": 2, // Kina
	"PHP": 2, // Philippine peso
	"PKR": 2, // Pakistan rupee
	"PLN": 2, // Zloty
	"PYG": 0, // Guarani
	"QAR": 2, // Qatari rial
	"RON": 2, // Romanian leu
	"RSD": 2, // Serbian dinar
	"RUB": 2, // Russian ruble
	"RWF": 0, // Rwanda franc
	"SAR": 2, // Saudi riyal
	"SBD": 2, // Solomon Islands dollar
	"SCR": 2, // Seychelles rupee
	"SDG": 2, // Sudanese pound
	"SEK": 2, // Swedish krona
	"SGD": 2, // Singapore dollar
	"SHP": 2, // Saint Helena pound
	"SLE": 2, // Leone
	"SLL": 2, // Leone (old)
	"SOS": 2, // Somali shilling
	"SRD": 2, // Surinam dollar
	"SSP": 2, // South Sudanese pound
	"STN": 2, // Dobra
	"SVC": 2, // El Salvador colón
	"SYP": 2, // Syrian pound
	"SZL": 2, // Lilangeni
	"THB": 2, // Baht
	"TJS": 2, // Somoni
	"TMT": 2, // Turkmenistan new manat
	"TND": 3, // Tunisian dinar
	"TOP": 2, // Pa'anga
	"TRY": 2, // Turkish lira
	"TTD": 2, // Trinidad and Tobago dollar
	"TWD": 2, // New Taiwan dollar
	"TZS": 2, // Tanzanian shilling
	"UAH": 2, // Hryvnia
	"UGX": 0, // Uganda shilling
	"USD": 2, // US dollar
	"USN": 2, // US dollar next day (funds)
	"UYI": 0, // Uruguay peso en unidades indexadas (funds)
	"UYU": 2, // Peso uruguayo
	"UYW": 4, // Unidad previsional (funds)
	"UZS": 2, // Uzbekistan sum
	"VED": 2, // Bolívar soberano (digital)
	"VES": 2, // Bolívar soberano
	"VND": 0, // Dong
	"VUV": 0, // Vatu
	"WST": 2, // Tala
	"XAF": 0, // CFA franc BEAC
	"XCD": 2, // East Caribbean dollar
	"XCG": 2, // Caribbean guilder
	"XOF": 0, // CFA franc BCEAO
	"XPF": 0, // CFP franc
	"YER": 2, // Yemeni rial
	"ZAR": 2, // Rand
	"ZMW": 2, // Zambian kwacha
	"ZWG": 2, // Zimbabwe Gold
}

// sortedCurrencies holds the keys of exponents in ascending order.
var sortedCurrencies = func() []Currency {
	cs := make([]Currency, 0, len(exponents))
	for c := range exponents {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	return cs
}()

// Currencies returns every supported currency, sorted by code. The caller
// owns the returned slice.
func Currencies() []Currency {
	return slices.Clone(sortedCurrencies)
}

// ParseCurrency returns the currency named by code, which must be exactly
// three uppercase ASCII letters naming a currency in the table (no spaces, no
// lowercase: "usd" is rejected). The error has code "unknown_currency".
func ParseCurrency(code string) (Currency, error) {
	if !isCurrencyShape(code) {
		return "", newError(CodeUnknownCurrency,
			"currency must be an ISO 4217 code of three uppercase letters, got "+quote(code))
	}
	c := Currency(code)
	if !c.Valid() {
		return "", newError(CodeUnknownCurrency, "unknown currency "+quote(code)).withCurrency(c)
	}
	return c, nil
}

// isCurrencyShape reports whether s is three uppercase ASCII letters.
func isCurrencyShape(s string) bool {
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

// Valid reports whether c is a currency in the table.
func (c Currency) Valid() bool {
	_, ok := exponents[c]
	return ok
}

// Exponent returns the ISO 4217 minor unit of c (0 for JPY, 2 for USD, 3 for
// KWD, 4 for CLF), or -1 if c is not a supported currency. It never panics.
func (c Currency) Exponent() int {
	e, ok := exponents[c]
	if !ok {
		return -1
	}
	return e
}
