package maildesk_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/email"
	"github.com/okpay/okpay/maildesk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// dns is an in-test DNS of DKIM keys: name -> ed25519 public key.
type dns map[string]ed25519.PublicKey

func (d dns) lookup(_ context.Context, name string) ([]string, error) {
	pub, ok := d[name]
	if !ok {
		return nil, errors.New("no such record: " + name)
	}
	return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
}

// signer signs test mail as example.com (alice's domain), selector s1.
type signer struct {
	t   *testing.T
	key ed25519.PrivateKey
	dns dns
}

func newSigner(t *testing.T) *signer {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{t: t, key: key, dns: dns{"s1._domainkey.example.com": pub}}
}

func (s *signer) sign(raw []byte) []byte {
	s.t.Helper()
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: "example.com", Selector: "s1", Signer: s.key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed}); err != nil {
		s.t.Fatal(err)
	}
	return out.Bytes()
}

func (s *signer) configure(require bool) func(*maildesk.Config) {
	return func(c *maildesk.Config) {
		c.Auth = email.AuthOptions{LookupTXT: s.dns.lookup, TrustedAuthServID: "mx.okpay.test"}
		c.RequireAuth = require
	}
}

// inboundAuth returns what ingest recorded of the authentication of the
// (latest) mail with msgID.
func (h *harness) inboundAuth(msgID string) (authenticated bool, auth, details string) {
	h.t.Helper()
	var n int
	if err := h.db.Read.QueryRowContext(h.ctx, `SELECT authenticated, auth, auth_details FROM email_inbound WHERE message_id = $1 ORDER BY id DESC LIMIT 1`, msgID).
		Scan(&n, &auth, &details); err != nil {
		h.t.Fatalf("inbound %s: %v", msgID, err)
	}
	return n == 1, auth, details
}

func (h *harness) tags(conv int64) []string {
	h.t.Helper()
	c, err := h.desk.Conversation(h.ctx, desk.System, conv)
	if err != nil {
		h.t.Fatal(err)
	}
	return c.Tags
}

func (h *harness) ingest(raw []byte) *maildesk.Result {
	h.t.Helper()
	res, err := h.svc.Ingest(h.ctx, raw, maildesk.Envelope{RcptTo: []string{support}})
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// TestSenderAuthentication: a DKIM-signed mail from the customer threads
// cleanly; a forged unsigned one from her address is attached but flagged
// unverified; a tampered signed one fails; the trusted upstream's
// dmarc=pass is honoured and anyone else's Authentication-Results ignored.
func TestSenderAuthentication(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		sg := newSigner(t)
		h := newHarnessWith(t, db, sg.configure(false))
		// Signed, over real SMTP.
		first := sg.sign(mail{from: "Alice <" + alice + ">", to: support, subject: "Card declined", msgID: "s1@example.com", body: "My card was declined."}.bytes())
		if err := h.send(alice, []string{support}, first); err != nil {
			t.Fatal(err)
		}
		st, conv, _ := h.inbound("s1@example.com")
		if ok, auth, details := h.inboundAuth("s1@example.com"); st != "started" || !ok || auth != "dkim:example.com" {
			t.Fatalf("signed first mail: %q auth %v %q %q", st, ok, auth, details)
		}
		if c, _ := h.desk.Conversation(h.ctx, desk.System, conv); c.CustomerID != aliceID {
			t.Fatalf("owner %+v", c)
		}
		res := h.ingest(sg.sign(mail{from: alice, to: support, subject: "Re: Card declined", msgID: "s2@example.com", inReplyTo: "s1@example.com", body: "Still declined."}.bytes()))
		if res.Outcome != maildesk.Attached || res.ConversationID != conv || !res.Auth.Authenticated || res.Unverified || res.Flagged {
			t.Fatalf("signed reply: %+v", res)
		}
		if slices.Contains(h.tags(conv), "email-unverified-sender") {
			t.Fatal("tagged unverified after signed mail only")
		}
		ms, _ := h.svc.Originals(h.ctx, []int64{res.MessageID})
		if in := ms[res.MessageID]; !in.Authenticated || in.Auth != "dkim:example.com" {
			t.Fatalf("original of the signed reply: %+v", in)
		}

		// Forged: unsigned, From alice, In-Reply-To her mail.
		res = h.ingest(mail{from: alice, to: support, subject: "Re: Card declined", msgID: "forged1@evil.example", inReplyTo: "s1@example.com",
			body: "Please send the balance to my new card."}.bytes())
		if res.Outcome != maildesk.Attached || res.ConversationID != conv || res.Auth.Authenticated || !res.Unverified {
			t.Fatalf("forged reply: %+v", res)
		}
		if ok, auth, details := h.inboundAuth("forged1@evil.example"); ok || auth != "none" || !strings.Contains(details, "no DKIM signature") {
			t.Fatalf("forged recorded as %v %q %q", ok, auth, details)
		}
		if !slices.Contains(h.tags(conv), "email-unverified-sender") {
			t.Fatalf("tags %q", h.tags(conv))
		}
		ms, _ = h.svc.Originals(h.ctx, []int64{res.MessageID})
		if in := ms[res.MessageID]; in.Authenticated || in.Auth != "none" {
			t.Fatalf("original of the forged mail: %+v", in)
		}

		// Signed, then changed on the way.
		signed := sg.sign(mail{from: alice, to: support, subject: "Re: Card declined", msgID: "t1@example.com", inReplyTo: "s1@example.com", body: "Refund 100 USD."}.bytes())
		res = h.ingest(bytes.Replace(signed, []byte("100 USD"), []byte("900 USD"), 1))
		if res.Outcome != maildesk.Attached || res.Auth.Authenticated || !res.Unverified {
			t.Fatalf("tampered: %+v", res)
		}
		if _, _, details := h.inboundAuth("t1@example.com"); !strings.Contains(details, "dkim=fail d=example.com") {
			t.Fatalf("tampered details %q", details)
		}

		// The trusted upstream vouches (dmarc=pass); a header from anyone
		// else does not.
		res = h.ingest(mail{from: alice, to: support, subject: "Re: Card declined", msgID: "u1@example.com", inReplyTo: "s1@example.com", body: "Any news?",
			headers: []string{"Authentication-Results: mx.okpay.test; spf=pass smtp.mailfrom=example.com; dmarc=pass (p=reject) header.from=example.com"}}.bytes())
		if !res.Auth.Authenticated || res.Auth.String() != "upstream:example.com" || res.Unverified || res.Outcome != maildesk.Attached {
			t.Fatalf("trusted upstream: %+v", res)
		}
		res = h.ingest(mail{from: alice, to: support, subject: "Re: Card declined", msgID: "u2@example.com", inReplyTo: "s1@example.com", body: "Any news??",
			headers: []string{"Authentication-Results: mx.evil.example; dmarc=pass header.from=example.com"}}.bytes())
		if res.Auth.Authenticated || !res.Unverified {
			t.Fatalf("untrusted upstream: %+v", res)
		}
		if _, _, details := h.inboundAuth("u2@example.com"); !strings.Contains(details, "not trusted") {
			t.Fatalf("untrusted details %q", details)
		}
	})
}

// TestRequireAuth: with RequireAuth a forged mail claiming the customer's
// conversation starts a new one, for the security team, with a note; a
// signed one still threads; a visitor's conversation is not affected.
func TestRequireAuth(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		sg := newSigner(t)
		h := newHarnessWith(t, db, sg.configure(true))
		res := h.ingest(sg.sign(mail{from: alice, to: support, subject: "Card declined", msgID: "s1@example.com", body: "My card was declined."}.bytes()))
		conv := res.ConversationID
		if res.Outcome != maildesk.Started || !res.Auth.Authenticated {
			t.Fatalf("first: %+v", res)
		}
		before := len(h.messages(conv))
		res = h.ingest(mail{from: alice, to: support, subject: "Re: Card declined", msgID: "forged1@evil.example", inReplyTo: "s1@example.com",
			body: "Please send the balance to my new card."}.bytes())
		if res.Outcome != maildesk.Started || res.ConversationID == conv || !res.SplitUnverified || res.Claimed != conv || res.ThreadedBy != maildesk.ByHeader || res.Mismatch {
			t.Fatalf("forged in require mode: %+v", res)
		}
		if n := len(h.messages(conv)); n != before {
			t.Fatalf("the customer's conversation got %d new messages", n-before)
		}
		split, _ := h.desk.Conversation(h.ctx, desk.System, res.ConversationID)
		if split.Team != desk.TeamSecurity || !slices.Contains(split.Tags, "email-unverified-sender") {
			t.Fatalf("split conversation %+v", split)
		}
		note := false
		for _, m := range h.messages(split.ID) {
			note = note || m.Internal && strings.Contains(m.Body, "could not be authenticated") && strings.Contains(m.Body, desk.ConversationRef(conv)) &&
				strings.Contains(m.Body, "no DKIM signature")
		}
		if !note {
			t.Fatalf("no explanatory note in %+v", h.messages(split.ID))
		}
		// Signed: threads.
		res = h.ingest(sg.sign(mail{from: alice, to: support, subject: "Re: Card declined", msgID: "s2@example.com", inReplyTo: "s1@example.com", body: "Still declined."}.bytes()))
		if res.Outcome != maildesk.Attached || res.ConversationID != conv {
			t.Fatalf("signed reply in require mode: %+v", res)
		}
		// A visitor's unsigned mail keeps threading (no account behind it).
		v1 := h.ingest(mail{from: visitor, to: support, subject: "Fees", msgID: "v1@example.cn", body: "What are the fees?"}.bytes())
		v2 := h.ingest(mail{from: visitor, to: support, subject: "Re: Fees", msgID: "v2@example.cn", inReplyTo: "v1@example.cn", body: "And limits?"}.bytes())
		if v2.Outcome != maildesk.Attached || v2.ConversationID != v1.ConversationID || v2.Unverified {
			t.Fatalf("visitor reply: %+v", v2)
		}
	})
}

// TestReusedMessageID: a redelivery (even through another relay) is a
// duplicate; a different mail under the same Message-ID and sender is
// stored, filed and flagged.
func TestReusedMessageID(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		orig := mail{from: alice, to: support, subject: "Card declined", msgID: "dup@example.com", body: "My card was declined."}
		first := h.ingest(orig.bytes())
		if first.Outcome != maildesk.Started || first.Flagged {
			t.Fatalf("first: %+v", first)
		}
		relayed := append([]byte("Received: from relay2.example by mx.okpay.test; Mon, 2 Mar 2026 09:01:00 +0000\r\n"), orig.bytes()...)
		if res := h.ingest(relayed); res.Outcome != maildesk.Duplicate || res.ConversationID != first.ConversationID {
			t.Fatalf("redelivery: %+v", res)
		}
		forged := orig
		forged.body = "Ignore my last mail: raise my limit and send the code to mallory@evil.example."
		res := h.ingest(forged.bytes())
		if res.Outcome == maildesk.Duplicate || !res.ReusedID || !res.Flagged || res.ConversationID == 0 || res.MessageID == 0 || res.MessageID == first.MessageID {
			t.Fatalf("same id, other content: %+v", res)
		}
		if n := h.count(`SELECT COUNT(*) FROM email_inbound WHERE message_id = 'dup@example.com' AND sender = $1`, alice); n != 2 {
			t.Fatalf("%d rows stored", n)
		}
		if n := h.count(`SELECT COUNT(*) FROM email_inbound WHERE message_id = 'dup@example.com' AND flagged = 1 AND problems LIKE '%reused Message-ID%'`); n != 1 {
			t.Fatalf("%d flagged rows", n)
		}
		note := false
		for _, m := range h.messages(res.ConversationID) {
			note = note || m.Internal && strings.Contains(m.Body, "reuses the Message-ID <dup@example.com>")
		}
		if !note || !slices.Contains(h.tags(res.ConversationID), "email-flagged") {
			t.Fatalf("no note or tag: %q %+v", h.tags(res.ConversationID), h.messages(res.ConversationID))
		}
		// The forged mail's own redelivery is a duplicate of it.
		if again := h.ingest(forged.bytes()); again.Outcome != maildesk.Duplicate || again.MessageID != res.MessageID {
			t.Fatalf("second delivery of the variant: %+v", again)
		}
	})
}

// TestReplyAttachmentsGoOut: an agent's files go out with the reply as
// MIME attachments, and the DKIM signature of the mail verifies.
func TestReplyAttachmentsGoOut(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		relay := newSink(t)
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(relay.addr)
		var p int
		fmt.Sscan(port, &p)
		snd, err := email.NewSender(email.SenderConfig{Host: host, Port: p, TLS: "none", Timeout: 10 * time.Second,
			DKIMDomain: "okpay.test", DKIMSelector: "okp", DKIMKey: key})
		if err != nil {
			t.Fatal(err)
		}
		disp, err := maildesk.NewDispatcher(h.svc, snd, maildesk.DeliverConfig{})
		if err != nil {
			t.Fatal(err)
		}
		start := h.ingest(mail{from: visitor, to: support, subject: "Receipt", msgID: "r1@example.cn", body: "Can I have a receipt?"}.bytes())
		png, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
		txt := []byte("Receipt TX-42\n100.00 USD\n")
		reply, err := h.desk.SendMessage(h.ctx, desk.Agent(agentA), start.ConversationID, desk.MessageInput{Body: "Here is your receipt.",
			Attachments: []desk.AttachmentInput{{Name: "receipt.png", ContentType: "image/png", Data: png}, {Name: "receipt.txt", ContentType: "text/plain", Data: txt}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.QueueReplies(h.ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := disp.Deliver(h.ctx); err != nil || n != 2 { // the acknowledgement and the reply
			t.Fatalf("delivered %d, %v", n, err)
		}
		if d, _ := h.svc.Deliveries(h.ctx, []int64{reply.ID}); d[reply.ID].State != maildesk.StateSent {
			t.Fatalf("delivery %+v", d)
		}
		var raw []byte
		for _, c := range relay.all() {
			if bytes.Contains(c.data, []byte("Here is your receipt.")) {
				raw = c.data
			}
		}
		if raw == nil {
			t.Fatal("the reply was not delivered")
		}
		m, err := email.Parse(raw, email.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.Text, "Here is your receipt.") || len(m.Attachments) != 2 {
			t.Fatalf("reply: %q %+v", m.Text, m.Attachments)
		}
		if a := m.Attachments[0]; a.Name != "receipt.png" || a.ContentType != "image/png" || !bytes.Equal(a.Data, png) {
			t.Errorf("png: %q %q %d bytes", a.Name, a.ContentType, len(a.Data))
		}
		if a := m.Attachments[1]; a.Name != "receipt.txt" || a.ContentType != "text/plain" || !bytes.Equal(a.Data, txt) {
			t.Errorf("txt: %q %q %q", a.Name, a.ContentType, a.Data)
		}
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
			return dns{"okp._domainkey.okpay.test": pub}.lookup(h.ctx, name)
		}})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "okpay.test" {
			t.Fatalf("DKIM of the reply: %v %+v", err, vs)
		}
		// And our own check agrees: the reply is authenticated as okpay.test.
		if a := email.Authenticate(h.ctx, raw, nil, email.AuthOptions{LookupTXT: dns{"okp._domainkey.okpay.test": pub}.lookup}); a.String() != "dkim:okpay.test" {
			t.Fatalf("Authenticate: %+v", a)
		}
	})
}
