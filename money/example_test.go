package money_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/okpay/okpay/money"
)

func ExampleParse() {
	a, err := money.Parse("12.3", "USD")
	fmt.Println(a.Minor, a.Currency, a, err)

	_, err = money.Parse("1.234", "USD")
	fmt.Println(err, errors.Is(err, money.ErrTooManyDecimals))

	var e *money.Error
	_, err = money.Parse("1e3", "USD")
	if errors.As(err, &e) {
		fmt.Println(e.Code()+":", e)
	}
	// Output:
	// 1230 USD 12.30 <nil>
	// USD allows at most 2 decimal places true
	// invalid_amount: amount must not use exponent notation
}

func ExampleParseSigned() {
	a, _ := money.ParseSigned("-0.005", "KWD")
	fmt.Println(a.Minor, a)
	// Output: -5 -0.005
}

func ExampleAmount_Format() {
	fmt.Println(money.New(123450, "CNY").Format("zh-CN"))
	fmt.Println(money.New(123450, "USD").Format("en"))
	fmt.Println(money.New(123450, "USD").Format("zh-CN"))
	fmt.Println(money.New(-500, "USD").Format("en"))
	fmt.Println(money.New(123450, "CHF").Format("en"))
	// Output:
	// ¥1,234.50
	// $1,234.50
	// US$1,234.50
	// -$5.00
	// CHF 1,234.50
}

func ExampleAmount_MarshalJSON() {
	b, _ := json.Marshal(money.New(1230, "USD"))
	fmt.Println(string(b))

	var a money.Amount
	err := json.Unmarshal([]byte(`{"amount":12.30,"currency":"USD"}`), &a)
	fmt.Println(err)
	// Output:
	// {"amount":"12.30","currency":"USD"}
	// amount must be a string
}
