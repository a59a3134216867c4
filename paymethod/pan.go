package paymethod

// ContainsPAN reports whether s holds something that looks like a card
// number: a run of 13 to 19 digits, possibly grouped by single spaces or
// hyphens ("4242 4242 4242 4242"), that passes the Luhn check. OKPay
// accepts card data only as provider tokens (CRD-01): a field that holds a
// PAN is refused before it is stored, logged or echoed. Longer digit runs
// (an IBAN's digits) are not PANs, nor is a run that starts with "+" (a
// phone number in international form, such as an e-wallet account
// "+8613812345678", which passes the Luhn check by chance one time in ten).
func ContainsPAN(s string) bool {
	var digits [19]byte
	n := 0        // digits in the current run (counting past 19)
	sep := false  // the previous character was a separator inside a run
	plus := false // the run follows a "+"
	flush := func() bool {
		found := n >= 13 && n <= 19 && !plus && luhn(digits[:n])
		n, sep = 0, false
		return found
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if n == 0 {
				plus = i > 0 && s[i-1] == '+'
			}
			if n < len(digits) {
				digits[n] = c - '0'
			}
			n++
			sep = false
		case (c == ' ' || c == '-') && n > 0 && !sep:
			sep = true
		default:
			if flush() {
				return true
			}
		}
	}
	return flush()
}

// luhn reports whether the digits pass the Luhn (mod 10) check.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i])
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}
