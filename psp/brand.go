package psp

// brandNames are how card brands are written, the same in every language.
var brandNames = map[string]string{
	"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "unionpay": "UnionPay",
	"jcb": "JCB", "discover": "Discover", "diners": "Diners Club", "maestro": "Maestro",
}

// BrandName writes a card brand code (Card.Brand: "visa") as people know
// it ("Visa"); an unknown code is returned as it is.
func BrandName(code string) string {
	if n, ok := brandNames[code]; ok {
		return n
	}
	return code
}
