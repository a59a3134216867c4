package maildesk_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// FuzzReplyAddress: whatever address a mail names, only a token made by
// Tokens.Token threads it, and Match never accepts a foreign domain.
func FuzzReplyAddress(f *testing.F) {
	keys, _ := secret.NewKeyring(bytes.Repeat([]byte{7}, 32))
	tok := maildesk.NewTokens(keys)
	addrs, _ := maildesk.ParseAddresses("support@okpay.test")
	good := tok.Token(123456789)
	for _, s := range []string{"support+" + good + "@okpay.test", "SUPPORT+" + strings.ToUpper(good) + "@OKPAY.TEST", "support@okpay.test",
		"support+0000000000001.aaaaaaaaaaaaaaaa@okpay.test", "support+@okpay.test", "x@evil.test", "support+a.b@okpay.test@evil", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		tag, ok := addrs.Match(addr)
		if !ok {
			return
		}
		if !strings.HasSuffix(strings.ToLower(strings.TrimSpace(addr)), "@okpay.test") {
			t.Fatalf("%q matched", addr)
		}
		if id, ok := tok.Parse(tag); ok && tok.Token(id) != strings.ToLower(tag) {
			t.Fatalf("token %q parsed as %d, whose token is %q", tag, id, tok.Token(id))
		}
	})
}

// FuzzSurveyToken: a rating link's token parses back to what made it, and
// anything else either fails or is exactly (but for case) the token of
// what it names: nothing else is accepted.
func FuzzSurveyToken(f *testing.F) {
	keys, _ := secret.NewKeyring(bytes.Repeat([]byte{7}, 32))
	tok := maildesk.NewTokens(keys)
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456000, time.UTC)
	good := tok.SurveyToken(123456789, at)
	for _, s := range []string{good, strings.ToUpper(good), good + "x", good[:len(good)-1], tok.Token(123456789), "0000000000001.aaaaaaaaaaaaa.aaaaaaaaaaaaaaaa",
		"..", ".", "", "a.b.c.d"} {
		f.Add(s, int64(0))
	}
	f.Add("", int64(1))
	f.Add("", at.UnixMicro())
	f.Fuzz(func(t *testing.T, s string, us int64) {
		if id, res, ok := tok.ParseSurvey(s); ok && tok.SurveyToken(id, res) != strings.ToLower(s) {
			t.Fatalf("%q parsed as %d %v, whose token is %q", s, id, res, tok.SurveyToken(id, res))
		}
		if us <= 0 {
			return
		}
		id := int64(len(s)) + 1
		made := tok.SurveyToken(id, time.UnixMicro(us))
		if gotID, gotRes, ok := tok.ParseSurvey(made); !ok || gotID != id || gotRes.UnixMicro() != us {
			t.Fatalf("token %q of %d at %d µs parsed as %d %v %v", made, id, us, gotID, gotRes, ok)
		}
	})
}

// FuzzIngest: any bytes received are stored and never fail ingest.
func FuzzIngest(f *testing.F) {
	for _, s := range []string{
		"From: a@example.com\r\nTo: support@okpay.test\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\nHello",
		"From: =?gbk?B?1PXR+Q==?= <b@example.cn>\r\nSubject: =?utf-8?q?[cnv_0000000000001]?=\r\nIn-Reply-To: <x@y>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Disposition: attachment; filename=a.png\r\n\r\n\x89PNG\r\n--b--",
		"\x00\xff",
		"From: <>\r\nAuto-Submitted: auto-replied\r\n\r\n",
	} {
		f.Add([]byte(s), "a@example.com")
	}
	h := newHarness(f, sqldbtest.Open(f, sqldb.SQLite))
	f.Fuzz(func(t *testing.T, raw []byte, from string) {
		res, err := h.svc.Ingest(context.Background(), raw, maildesk.Envelope{MailFrom: from, RcptTo: []string{"support@okpay.test"}})
		if err != nil {
			if int64(len(raw)) > h.svc.Config().MaxBytes {
				return
			}
			t.Fatalf("ingest: %v", err)
		}
		if res.ConversationID != 0 {
			if _, err := h.desk.Conversation(context.Background(), desk.System, res.ConversationID); err != nil {
				t.Fatalf("conversation %d: %v", res.ConversationID, err)
			}
		}
	})
}
