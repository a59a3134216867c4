package fx_test

import (
	"fmt"

	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/money"
)

func ExamplePrice() {
	// 1 USD = 156.789 JPY at mid; the customer wants exactly 10,000 JPY
	// and the spread is 50 bp.
	mid, _ := fx.ParseRate("USD", "JPY", "156.789")
	p, _ := fx.Price(mid, 50, fx.SideBuy, money.New(10000, "JPY"))
	fmt.Println("customer rate:", p.Rate.Describe())
	fmt.Println("pays:", p.Sell, p.Sell.Currency, "receives:", p.Buy, p.Buy.Currency)
	fmt.Println("to liquidity:", p.SellAtMid, "spread revenue:", p.Spread)
	// Output:
	// customer rate: 1 USD = 156.005055 JPY
	// pays: 64.11 USD receives: 10000 JPY
	// to liquidity: 63.78 spread revenue: 0.33
}
