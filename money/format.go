package money

import "strings"

// symbol is how a currency is written before the number in each language.
type symbol struct{ en, zh string }

// symbols covers the currencies OKPay users meet most. The choice avoids
// ambiguity within a language: in Chinese "¥" is the renminbi, so the yen is
// "JP¥" and the US dollar "US$"; in English "$" is the US dollar, so the
// renminbi is "CN¥". Other currencies are written as their code and a space.
var symbols = map[Currency]symbol{
	"CNY": {en: "CN¥", zh: "¥"},
	"USD": {en: "$", zh: "US$"},
	"EUR": {en: "€", zh: "€"},
	"GBP": {en: "£", zh: "£"},
	"JPY": {en: "JP¥", zh: "JP¥"},
	"HKD": {en: "HK$", zh: "HK$"},
	"TWD": {en: "NT$", zh: "NT$"},
	"AUD": {en: "A$", zh: "AU$"},
	"CAD": {en: "CA$", zh: "CA$"},
	"KRW": {en: "₩", zh: "₩"},
	"INR": {en: "₹", zh: "₹"},
}

// Format returns the amount for display in language lang (a BCP 47 tag:
// "zh-CN" and any other "zh" tag select Chinese, anything else English):
// the currency's symbol, the integer part grouped in thousands with ',',
// and exactly the currency's decimals.
//
//	New(123450, "CNY").Format("zh-CN") // "¥1,234.50"
//	New(123450, "USD").Format("en")    // "$1,234.50"
//	New(123450, "USD").Format("zh-CN") // "US$1,234.50"
//	New(-500, "USD").Format("en")      // "-$5.00"
//	New(123450, "CHF").Format("en")    // "CHF 1,234.50"
//
// Currencies without a symbol are prefixed by their code and a space. An
// amount of an unknown currency is shown as its integer minor units after
// the (possibly empty) code; Format never panics.
func (a Amount) Format(lang string) string {
	prefix := string(a.Currency) + " "
	if s, ok := symbols[a.Currency]; ok {
		prefix = s.en
		if isChinese(lang) {
			prefix = s.zh
		}
	} else if !a.Currency.Valid() {
		prefix = strings.TrimSpace(prefix)
		if prefix != "" {
			prefix = quote(prefix) + " "
		}
	}
	num := decimal(a.Minor, max(a.Currency.Exponent(), 0), true)
	if num[0] == '-' {
		return "-" + prefix + num[1:]
	}
	return prefix + num
}

// isChinese reports whether the BCP 47 tag lang is Chinese ("zh", "zh-CN",
// "zh_Hans", "ZH-cn"...).
func isChinese(lang string) bool {
	if len(lang) < 2 || !strings.EqualFold(lang[:2], "zh") {
		return false
	}
	return len(lang) == 2 || lang[2] == '-' || lang[2] == '_'
}
