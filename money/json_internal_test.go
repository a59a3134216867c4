package money

import "testing"

// FuzzScanPlain checks UnmarshalJSON's decoder-free path against the token
// decoder on every input the path takes: the same amount and currency.
func FuzzScanPlain(f *testing.F) {
	for _, seed := range []string{
		`{"amount":"12.30","currency":"USD"}`,
		` { "currency" : "JPY" , "amount" : "5" } `,
		"{\"amount\":\"1\",\n\t\"currency\":\"KWD\"}\r\n",
		`{"amount":"1.234","currency":"USD"}`,
		`{"amount":"1","currency":"usd"}`,
		`{"amount":"1","amount":"2"}`,
		`{"amount":"1","currency":"USD","x":"y"}`,
		`{"amount":"1"}`,
		`{"amount":"\u0031","currency":"USD"}`,
		`{"amount":"1","currency":"USD"}x`,
		`{"amount":"１","currency":"USD"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		amount, currency, ok := scanPlain(data)
		if !ok {
			return
		}
		tamount, tcurrency, err := scanTokens(data)
		if err != nil || tamount != amount || tcurrency != currency {
			t.Fatalf("%q: plain path %q %q; token decoder %q %q, %v", data, amount, currency, tamount, tcurrency, err)
		}
	})
}

func TestScanPlainShapes(t *testing.T) {
	for in, want := range map[string]bool{
		`{"amount":"12.30","currency":"USD"}`:       true,
		` {"currency":"JPY" ,"amount": "5"}` + "\n": true,
		`{"amount":"1"}`:                            false,
		`{"amount":"1","amount":"2"}`:               false,
		`{"amount":"1","currency":"USD","x":"y"}`:   false,
		`{"amount":1,"currency":"USD"}`:             false,
		`{"amount":"\u0031","currency":"USD"}`:      false,
		`{"amount":"1","currency":"USD"}}`:          false,
		`{"amount":"1","currency":"USD"`:            false,
		`{"amount":"1" "currency":"USD"}`:           false,
		`{"amount":"１","currency":"USD"}`:           false,
		`{"Amount":"1","currency":"USD"}`:           false,
		``:                                          false,
	} {
		if _, _, got := scanPlain([]byte(in)); got != want {
			t.Errorf("scanPlain(%q) ok = %v, want %v", in, got, want)
		}
	}
}

// BenchmarkUnmarshalJSON compares the plain path with the token decoder
// on a transfer's amount.
func BenchmarkUnmarshalJSON(b *testing.B) {
	data := []byte(`{"amount":"12.34","currency":"USD"}`)
	var a Amount
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			if err := a.UnmarshalJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tokens", func(b *testing.B) {
		for b.Loop() {
			amount, currency, err := scanTokens(data)
			if err != nil {
				b.Fatal(err)
			}
			c, err := ParseCurrency(currency)
			if err != nil {
				b.Fatal(err)
			}
			if a, err = Parse(amount, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
