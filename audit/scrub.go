package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Redacted replaces the value of a secret key.
const Redacted = "[REDACTED]"

// secretKeyParts are the key fragments whose values are never logged
// (AUD-02). The first ten are the SECURITY.md list; the rest catch common
// spellings of the same secrets.
var secretKeyParts = []string{
	"password", "passwd", "otp", "code", "token", "secret", "pan", "cvv", "authorization", "cookie",
	"pwd", "apikey", "credential", "privatekey",
}

// IsSecretKey reports whether values under key must be redacted: whether
// key, lower-cased and without '_', '-', '.' and spaces, contains one of
// password, passwd, otp, code, token, secret, pan, cvv, authorization,
// cookie, pwd, apikey, credential or privatekey. The match is deliberately
// wide ("company" and "currency_code" match too): a redacted harmless value
// costs less than a logged secret.
func IsSecretKey(key string) bool {
	var buf [64]byte
	k := buf[:0]
	for _, r := range strings.ToLower(key) {
		switch r {
		case '_', '-', '.', ' ':
			continue
		}
		k = utf8.AppendRune(k, r)
	}
	for _, p := range secretKeyParts {
		if bytes.Contains(k, []byte(p)) {
			return true
		}
	}
	return false
}

// Scrub returns value made safe to log under key (AUD-02, AUD-03):
//   - when key is a secret key (see IsSecretKey), Redacted;
//   - otherwise value with every Luhn-valid run of 13 to 19 digits (a card
//     number, possibly grouped by single spaces or dashes) cut to "••••"
//     and its last four digits, and then every control character made
//     visible: CR, LF and tab as \r \n \t, other C0 characters, DEL and
//     bytes that are not UTF-8 as \xNN (so an ANSI escape sequence starts
//     with a harmless \x1b), C1 characters, line and paragraph separators
//     and bidirectional overrides as \uNNNN.
//
// Backslashes are left as they are, so a scrubbed value is not always the
// unambiguous image of its input; it is only guaranteed to fit on one line
// and to carry no terminal control.
func Scrub(key, value string) string {
	return scrubValue(value, IsSecretKey(key))
}

func scrubValue(v string, secret bool) string {
	if secret {
		return Redacted
	}
	return escape(redactPANs(v))
}

// escape makes control characters visible (see Scrub).
func escape(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < 0x20 || c == 0x7f || c >= 0x80 {
			break
		}
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				writeHex(&b, `\x`, uint32(c), 2)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeHex(&b, `\x`, uint32(c), 2)
		case escapedRune(r):
			writeHex(&b, `\u`, uint32(r), 4)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

const hexDigits = "0123456789abcdef"

func writeHex(b *strings.Builder, prefix string, v uint32, width int) {
	b.WriteString(prefix)
	for shift := 4 * (width - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(v>>uint(shift))&0xf])
	}
}

// escapedRune reports whether r, a valid non-ASCII character, can break a
// log line or change how it reads: C1 controls (U+0085 is a line break,
// U+009B starts a terminal sequence), the Unicode line and paragraph
// separators, and the bidirectional marks and overrides.
func escapedRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

type span struct{ start, end int }

// redactPANs replaces each card number in s by "••••" and its last four
// digits. A card number is a Luhn-valid run of 13 to 19 digits, written
// together or in groups separated by single spaces or dashes; where a run
// of groups is longer, the longest valid run of whole groups starting at
// the earliest group is taken. A run of more than 19 digits with no
// separator is not a card number.
func redactPANs(s string) string {
	var out []byte
	redacted := false
	last := 0
	var groupBuf [32]span
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		groups := groupBuf[:0]
		j := i
		for {
			st := j
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			groups = append(groups, span{st, j})
			if j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) {
				j++
				continue
			}
			break
		}
		for g := 0; g < len(groups); {
			best, n := -1, 0
			for h := g; h < len(groups); h++ {
				n += groups[h].end - groups[h].start
				if n > 19 {
					break
				}
				if n >= 13 && luhn(s, groups[g:h+1]) {
					best = h
				}
			}
			if best < 0 {
				g++
				continue
			}
			if !redacted {
				out = make([]byte, 0, len(s))
				redacted = true
			}
			out = append(out, s[last:groups[g].start]...)
			out = append(out, "••••"...)
			out = appendLast4(out, s, groups[g:best+1])
			last = groups[best].end
			g = best + 1
		}
		i = j
	}
	if !redacted {
		return s
	}
	return string(append(out, s[last:]...))
}

// luhn reports whether the digits of groups pass the Luhn check.
func luhn(s string, groups []span) bool {
	sum, double := 0, false
	for g := len(groups) - 1; g >= 0; g-- {
		for k := groups[g].end - 1; k >= groups[g].start; k-- {
			d := int(s[k] - '0')
			if double {
				d *= 2
				if d > 9 {
					d -= 9
				}
			}
			sum += d
			double = !double
		}
	}
	return sum%10 == 0
}

func appendLast4(b []byte, s string, groups []span) []byte {
	var tail [4]byte
	n := 0
	for g := len(groups) - 1; g >= 0 && n < 4; g-- {
		for k := groups[g].end - 1; k >= groups[g].start && n < 4; k-- {
			n++
			tail[4-n] = s[k]
		}
	}
	return append(b, tail[4-n:]...)
}

// NewHandler returns a slog handler that scrubs every record before next
// sees it: the message and every attribute value go through Scrub under
// their key (a group named like a secret redacts everything in it), keys
// and group names are escaped, integers that look like card numbers are
// cut, and values of other types are turned into scrubbed groups (maps
// and structs, through their JSON form) or strings (errors, Stringers).
// It is OKPay's process logger.
func NewHandler(next slog.Handler) slog.Handler {
	return &handler{next: next}
}

type handler struct {
	next slog.Handler
	// secret is set when a group opened by WithGroup has a secret name.
	secret bool
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, scrubValue(r.Message, false), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(scrubAttr(a, h.secret))
		return true
	})
	return h.next.Handle(ctx, nr)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = scrubAttr(a, h.secret)
	}
	return &handler{next: h.next.WithAttrs(out), secret: h.secret}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{next: h.next.WithGroup(escape(name)), secret: h.secret || IsSecretKey(name)}
}

func scrubAttr(a slog.Attr, secret bool) slog.Attr {
	if a.Equal(slog.Attr{}) {
		return a
	}
	secret = secret || IsSecretKey(a.Key)
	key := escape(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		in := v.Group()
		out := make([]slog.Attr, len(in))
		for i, g := range in {
			out[i] = scrubAttr(g, secret)
		}
		return slog.Attr{Key: key, Value: slog.GroupValue(out...)}
	case slog.KindString:
		return slog.String(key, scrubValue(v.String(), secret))
	case slog.KindInt64, slog.KindUint64:
		if secret {
			return slog.String(key, Redacted)
		}
		if s := v.String(); redactPANs(s) != s {
			return slog.String(key, redactPANs(s))
		}
		return slog.Attr{Key: key, Value: v}
	case slog.KindAny:
		return slog.Attr{Key: key, Value: scrubAny(v.Any(), secret)}
	default: // bool, float, duration, time
		if secret {
			return slog.String(key, Redacted)
		}
		return slog.Attr{Key: key, Value: v}
	}
}

// scrubAny turns an arbitrary value into a scrubbed one.
func scrubAny(v any, secret bool) slog.Value {
	if secret {
		return slog.StringValue(Redacted)
	}
	switch x := v.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(scrubValue(x.Error(), false))
	case []byte:
		return slog.StringValue(scrubValue(string(x), false))
	case fmt.Stringer:
		return slog.StringValue(scrubValue(x.String(), false))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return slog.StringValue(fmt.Sprintf("[unloggable %T]", v))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		return slog.StringValue(fmt.Sprintf("[unloggable %T]", v))
	}
	return jsonValue(g, false)
}

// jsonValue scrubs a decoded JSON value into a slog value: objects become
// groups.
func jsonValue(g any, secret bool) slog.Value {
	if secret {
		return slog.StringValue(Redacted)
	}
	switch x := g.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]slog.Attr, 0, len(keys))
		for _, k := range keys {
			attrs = append(attrs, slog.Attr{Key: escape(k), Value: jsonValue(x[k], IsSecretKey(k))})
		}
		return slog.GroupValue(attrs...)
	case []any:
		return slog.AnyValue(jsonPlain(x, false))
	case string:
		return slog.StringValue(scrubValue(x, false))
	case json.Number:
		s := x.String()
		if r := redactPANs(s); r != s {
			return slog.StringValue(r)
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return slog.Int64Value(i)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return slog.Float64Value(f)
		}
		return slog.StringValue(escape(s))
	case bool:
		return slog.BoolValue(x)
	}
	return slog.AnyValue(nil)
}

// jsonPlain scrubs a decoded JSON value and keeps it a plain value (for
// the elements of arrays, which slog has no kind for).
func jsonPlain(g any, secret bool) any {
	if secret {
		return Redacted
	}
	switch x := g.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out[escape(k)] = jsonPlain(x[k], IsSecretKey(k))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonPlain(e, false)
		}
		return out
	case string:
		return scrubValue(x, false)
	case json.Number:
		s := x.String()
		if r := redactPANs(s); r != s {
			return r
		}
		return x
	}
	return g
}
