package okpay_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/okpay/okpay"
)

func TestInternalUnlessCoded(t *testing.T) {
	if okpay.InternalUnlessCoded(nil, "x") != nil {
		t.Fatal("nil must stay nil")
	}
	coded := okpay.Errorf("card_expired", "the card has expired")
	if got := okpay.InternalUnlessCoded(fmt.Errorf("charging: %w", coded), "charge"); got != error(coded) {
		t.Fatalf("a coded error must pass through: %v", got)
	}
	cause := errors.New("disk I/O error")
	got := okpay.InternalUnlessCoded(cause, "save the reply")
	var e *okpay.Error
	if !errors.As(got, &e) || e.Code != okpay.EInternal || !errors.Is(got, cause) || e.Message != "save the reply" {
		t.Fatalf("an uncoded error must become internal, keeping its cause: %v", got)
	}
}
