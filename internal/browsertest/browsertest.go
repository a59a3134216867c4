// Package browsertest starts a headless Chromium for end-to-end tests of the
// web pages, through chromedp.
//
// Browser tests run only when OKPAY_TEST_CHROMIUM names the Chromium binary
// (for example /usr/bin/chromium, from Debian's chromium package); otherwise
// they skip, so `go test ./...` passes on machines without a browser.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// EnvChromium is the environment variable that enables browser tests; it
// holds the path of the Chromium binary.
const EnvChromium = "OKPAY_TEST_CHROMIUM"

// Timeout bounds one test's whole use of the browser, start included.
const Timeout = 60 * time.Second

// New starts a fresh headless Chromium with its own temporary profile and
// returns a chromedp context for one tab in it, bounded by Timeout (or the
// test's deadline, if sooner). The browser is closed when the test ends.
// Without OKPAY_TEST_CHROMIUM the test is skipped.
func New(t testing.TB) context.Context {
	t.Helper()
	return NewWithTimeout(t, Timeout)
}

// NewWithTimeout is New for a test that needs the browser longer than
// Timeout (several browser contexts driven in turn, on a loaded machine).
func NewWithTimeout(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	execPath := os.Getenv(EnvChromium)
	if execPath == "" {
		t.Skip("OKPAY_TEST_CHROMIUM not set: set it to the chromium binary (e.g. /usr/bin/chromium) to run browser tests")
	}
	// Created before the cleanup below is registered, so it is removed
	// after the browser has exited (cleanups run last-in, first-out).
	profile := t.TempDir()

	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := tt.Deadline(); ok {
			if left := time.Until(d) - 5*time.Second; left < timeout {
				timeout = max(left, time.Second)
			}
		}
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)

	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
		// No smooth scrolling (app.css scrolls smoothly unless the user
		// prefers reduced motion): chromedp.Click scrolls the element into
		// view, reads its position and clicks there, and a page still
		// scrolling after a focus() moved the element away first, so the
		// click landed beside it (TestBrowserDeskAccountActions, 1 run in 3).
		chromedp.Flag("force-prefers-reduced-motion", true),
	)
	// chromedp may report errors from its own goroutines; testing.T must not
	// be used once the test has finished, so stop forwarding at cleanup.
	var mu sync.Mutex
	finished := false
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			t.Logf("chromium: "+format, args...)
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancelBrowser() // closes the tab and the browser
		cancelAlloc()   // waits for the process to exit
		cancelTimeout()
		mu.Lock()
		finished = true
		mu.Unlock()
	})
	// Start the browser now, so a broken install fails here clearly.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("browsertest: start %s: %v", execPath, err)
	}
	return browserCtx
}

// Fill types v into the input or textarea matched by css as a user would:
// it waits until the field is visible, focuses and empties it, inserts the
// text (input events fire) and checks the field holds exactly v.
//
// It replaces chromedp.Clear followed by chromedp.SendKeys: Clear sets the
// value attribute, and SendKeys then reads the node's attributes without
// the lock the attribute event takes, a data race inside chromedp that
// -race reports now and then.
func Fill(ctx context.Context, css, v string) error {
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		return err
	}
	q, _ := json.Marshal(css)
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(el => { el.focus(); el.value = ''; return document.activeElement === el; })(document.querySelector(`+string(q)+`))`))
	if err != nil {
		return err
	}
	if !focused {
		return fmt.Errorf("fill %s: the field cannot take the focus", css)
	}
	if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: v}); err != nil {
		return err
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+string(q)+`).value`))
	if err != nil {
		return err
	}
	if got != v {
		return fmt.Errorf("fill %s: the field holds %q, want %q", css, got, v)
	}
	return nil
}
