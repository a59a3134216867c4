package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestAUD02_SecretKeysAreRedacted(t *testing.T) {
	for _, c := range []struct {
		key    string
		secret bool
	}{
		{"password", true},
		{"Password", true},
		{"new_password", true},
		{"PASSWD", true},
		{"otp", true},
		{"sms_otp_code", true},
		{"code", true},
		{"recovery_code", true},
		{"token", true},
		{"access_token", true},
		{"X-CSRF-Token", true},
		{"secret", true},
		{"totp_secret", true},
		{"client-secret", true},
		{"pan", true},
		{"card_PAN", true},
		{"cvv", true},
		{"CVV2", true},
		{"authorization", true},
		{"Proxy-Authorization", true},
		{"cookie", true},
		{"Set-Cookie", true},
		{"pass_word", true},
		{"api_key", true},
		{"X-Api-Key", true},
		{"pwd", true},
		{"private_key", true},
		{"credentials", true},
		{"user", false},
		{"email", false},
		{"amount", false},
		{"ip", false},
		{"device_id", false},
		{"request_id", false},
		{"reason", false},
		{"msg", false},
		{"", false},
	} {
		if got := IsSecretKey(c.key); got != c.secret {
			t.Errorf("IsSecretKey(%q) = %v, want %v", c.key, got, c.secret)
		}
		got := Scrub(c.key, "hunter2")
		if c.secret && got != Redacted {
			t.Errorf("Scrub(%q, hunter2) = %q, want %q", c.key, got, Redacted)
		}
		if !c.secret && got != "hunter2" {
			t.Errorf("Scrub(%q, hunter2) = %q, want it unchanged", c.key, got)
		}
	}
}

func TestAUD02_CardNumbersAreCut(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"4111111111111111", "••••1111"},
		{"card 4111 1111 1111 1111 declined", "card ••••1111 declined"},
		{"4111-1111-1111-1111", "••••1111"},
		{"amex 378282246310005.", "amex ••••0005."},
		{"13 digits 4222222222222", "13 digits ••••2222"},
		{"19 digits 6011000990139424000", "19 digits 6011000990139424000"}, // not Luhn-valid
		{"two 5555555555554444/4012888888881881", "two ••••4444/••••1881"},
		{"x4111111111111111y", "x••••1111y"},
		{"4111111111111112", "4111111111111112"},               // Luhn fails
		{"411111111111", "411111111111"},                       // 12 digits
		{"41111111111111111111111", "41111111111111111111111"}, // 23 digits, one run
		{"order 7 4111 1111 1111 1111", "order 7 ••••1111"},
		{"phone +1 415 555 0100", "phone +1 415 555 0100"},
		{"2026-03-01", "2026-03-01"},
		{"", ""},
	} {
		if got := Scrub("note", c.in); got != c.want {
			t.Errorf("Scrub(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAUD03_ControlCharactersAreEscaped(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text, ünïcödé ✓", "plain text, ünïcödé ✓"},
		{"alice\nlevel=ERROR msg=forged", `alice\nlevel=ERROR msg=forged`},
		{"a\r\nb", `a\r\nb`},
		{"tab\there", `tab\there`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"nul\x00bel\x07del\x7f", `nul\x00bel\x07del\x7f`},
		{"c1 \u0085 \u009b31m", `c1 \u0085 \u009b31m`},
		{"sep \u2028 \u2029", `sep \u2028 \u2029`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{`already \n escaped`, `already \n escaped`},
	} {
		got := Scrub("user", c.in)
		if got != c.want {
			t.Errorf("Scrub(%q) = %q, want %q", c.in, got, c.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Scrub(%q) is not UTF-8", c.in)
		}
	}
}

// capture is a slog handler that keeps every record it sees.
type capture struct {
	mu      sync.Mutex
	records []slog.Record
	attrs   []slog.Attr
	groups  []string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.records = append(c.records, r.Clone())
	c.mu.Unlock()
	return nil
}
func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	c.mu.Lock()
	c.attrs = append(c.attrs, as...)
	c.mu.Unlock()
	return c
}
func (c *capture) WithGroup(name string) slog.Handler {
	c.mu.Lock()
	c.groups = append(c.groups, name)
	c.mu.Unlock()
	return c
}

// strings lists every key, group name, message and leaf value c saw, as
// the wrapped handler got them.
func (c *capture) strings() []string {
	var out []string
	var walk func(a slog.Attr)
	walk = func(a slog.Attr) {
		out = append(out, a.Key)
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				walk(g)
			}
			return
		}
		out = append(out, fmt.Sprint(a.Value.Any()))
	}
	out = append(out, c.groups...)
	for _, a := range c.attrs {
		walk(a)
	}
	for _, r := range c.records {
		out = append(out, r.Message)
		r.Attrs(func(a slog.Attr) bool { walk(a); return true })
	}
	return out
}

type loginForm struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Card     string `json:"card"`
}

type secretStringer struct{}

func (secretStringer) String() string { return "line1\nline2" }

func TestAUD02_HandlerRedactsSampleRecords(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	log.Info("login attempt",
		"user", "alice",
		"password", "hunter2",
		slog.Group("http", "Authorization", "Bearer eyJabc", "path", "/login", slog.Group("cookie", "sid", "s3ss10n")),
		"attempt", 3,
		"card_number", int64(4111111111111111),
		"form", loginForm{User: "alice", Password: "pa55word", Card: "5555 5555 5555 4444"},
		"extra", map[string]any{"otp": 123456, "list": []any{"4012888888881881", map[string]any{"token": "t0k"}}},
		"err", errors.New("db says\nnope"),
		"stringer", secretStringer{},
	)
	log.WithGroup("secret").Info("grouped", "anything", "t0p")
	log.With("session_token", "abc123").Info("with attrs")
	out := buf.String()
	for _, leak := range []string{"hunter2", "eyJabc", "s3ss10n", "pa55word", "4444 ", "5555 5555", "4012888888881881", "123456", "t0k", "t0p", "abc123", "4111111111111111"} {
		if strings.Contains(out, leak) {
			t.Errorf("output contains %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{`"user":"alice"`, `"path":"/login"`, `"attempt":3`, `"card_number":"••••1111"`,
		`"card":"••••4444"`, `"err":"db says\\nnope"`, `"stringer":"line1\\nline2"`, `"Authorization":"[REDACTED]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("line is not JSON: %v: %s", err, line)
		}
	}
}

func TestAUD03_HandlerEscapesInjectedLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil)))
	log.Info("user\nlevel=ERROR msg=forged", "user", "bob\r\nlevel=ERROR msg=\"forged\"", "ua\x1b[2J", "x\x1b]0;title\x07")
	log.WithGroup("g\n").With("k\u2028", "v").Info("m")
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, out)
	}
	if strings.ContainsAny(out, "\r\x1b\x07") || strings.Contains(out, "\u2028") {
		t.Errorf("raw control characters in output: %q", out)
	}
	// The wrapped handler itself never sees raw control characters.
	c := &capture{}
	log = slog.New(NewHandler(c))
	log.WithGroup("g\n").With("k\r", "v\x1b").Info("m\n", "a\n", "b\r", slog.Group("c\x1b", "d", "e\n"))
	for _, s := range c.strings() {
		if strings.ContainsAny(s, "\r\n\x1b") {
			t.Errorf("wrapped handler saw %q", s)
		}
	}
}

func scrubOK(t *testing.T, key, value, out string) {
	t.Helper()
	if strings.ContainsAny(out, "\r\n\x1b") {
		t.Fatalf("Scrub(%q, %q) = %q has raw control characters", key, value, out)
	}
	for i := 0; i < len(out); i++ {
		if out[i] < 0x20 || out[i] == 0x7f {
			t.Fatalf("Scrub(%q, %q) = %q has a C0 byte", key, value, out)
		}
	}
	if !utf8.ValidString(out) {
		t.Fatalf("Scrub(%q, %q) = %q is not UTF-8", key, value, out)
	}
	if IsSecretKey(key) && out != Redacted {
		t.Fatalf("Scrub(%q, %q) = %q, want %q", key, value, out, Redacted)
	}
}

func FuzzScrub(f *testing.F) {
	for _, s := range []string{"", "plain", "a\nb", "\r\n", "\x1b[31m", "\u009b2J", "\xff", "4111 1111 1111 1111", "x4111111111111111x", "\u2028"} {
		f.Add("note", s)
		f.Add("password", s)
	}
	f.Add("Set-Cookie", "sid=abc")
	f.Fuzz(func(t *testing.T, key, value string) {
		out := Scrub(key, value)
		scrubOK(t, key, value, out)
		if !IsSecretKey(key) {
			// Only the card cut shrinks text; escaping never drops a
			// character, so a value with no digits keeps every printable
			// ASCII byte in order.
			if !strings.ContainsAny(value, "0123456789") {
				var want strings.Builder
				for i := 0; i < len(value); i++ {
					if c := value[i]; c >= 0x20 && c < 0x7f {
						want.WriteByte(c)
					}
				}
				var got strings.Builder
				for i := 0; i < len(out); i++ {
					if c := out[i]; c >= 0x20 && c < 0x7f {
						got.WriteByte(c)
					}
				}
				if !isSubsequence(want.String(), got.String()) {
					t.Fatalf("Scrub(%q) = %q lost text", value, out)
				}
			}
		}
		// The same value under a secret key never shows.
		if got := Scrub("x_"+key+"_password", value); got != Redacted {
			t.Fatalf("secret key: %q", got)
		}
	})
}

func isSubsequence(sub, s string) bool {
	j := 0
	for i := 0; i < len(s) && j < len(sub); i++ {
		if s[i] == sub[j] {
			j++
		}
	}
	return j == len(sub)
}

func FuzzHandler(f *testing.F) {
	f.Add("login", "user", "alice", "password", "hunter2")
	f.Add("a\nb", "k\r", "v\x1b[2J", "token", "t")
	f.Add("m", "card", "4111111111111111", "cvv", "123")
	f.Fuzz(func(t *testing.T, msg, key, value, secretKey, secretValue string) {
		c := &capture{}
		log := slog.New(NewHandler(c))
		log.Info(msg, key, value, slog.Group("g", secretKey, secretValue), "api_token", secretValue)
		log.WithGroup(key).With(key, value).Info(msg, "password", secretValue)
		for _, s := range c.strings() {
			if strings.ContainsAny(s, "\r\n\x1b") {
				t.Fatalf("wrapped handler saw %q", s)
			}
		}
		// Output never depends on a value under a secret key.
		render := func(sv string) string {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}})
			l := slog.New(NewHandler(h))
			l.Info(msg, key, value, "api_token", sv)
			if IsSecretKey(secretKey) {
				l.Info(msg, secretKey, sv)
			}
			return buf.String()
		}
		if a, b := render(secretValue), render(secretValue+"x"); a != b {
			t.Fatalf("output depends on a secret value:\n%s\n%s", a, b)
		}
	})
}
