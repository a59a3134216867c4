package browsertest_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/okpay/okpay/internal/browsertest"
)

func TestNewRunsABrowser(t *testing.T) {
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("data:text/html,<title>ok</title><p id=p>hello</p>")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("p")))
	if err != nil {
		t.Fatal(err)
	}
	if got != "hello" {
		t.Fatalf("text = %q, want hello", got)
	}
}

func TestNewSkipsWithoutChromium(t *testing.T) {
	t.Setenv(browsertest.EnvChromium, "") // as on a machine without chromium
	skipped := false
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		browsertest.New(t)
		t.Error("New returned without skipping")
	})
	if !skipped {
		t.Fatal("New did not skip")
	}
}
