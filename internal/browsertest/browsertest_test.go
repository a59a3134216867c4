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
	// Pages scroll at once, so a click lands where the element was seen.
	reduced, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`matchMedia('(prefers-reduced-motion: reduce)').matches`))
	if err != nil || !reduced {
		t.Fatalf("prefers-reduced-motion: reduce = %v (%v), want true", reduced, err)
	}
}

func TestFillReplacesTheValue(t *testing.T) {
	ctx := browsertest.New(t)
	page := `data:text/html,<input id=f value="old text"><textarea id=t></textarea><p id=c>0</p>` +
		`<script>let k = 0; document.getElementById('f').addEventListener('input', () => document.getElementById('c').textContent = ++k)</script>`
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.Fill(ctx, "#f", "提现 fee 1.00"); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.Fill(ctx, "#t", "line"); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[f.value, t.value, c.textContent].join("|")`))
	if err != nil {
		t.Fatal(err)
	}
	if got != "提现 fee 1.00|line|1" {
		t.Fatalf("after Fill: %q, want the old text replaced and one input event", got)
	}
	if err := browsertest.Fill(ctx, "#c", "x"); err == nil {
		t.Fatal("Fill of a paragraph must fail: it holds no value")
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
