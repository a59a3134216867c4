package web_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/email"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/maildesk"
)

// noCustomers knows no customer: every sender is a visitor.
type noCustomers struct{}

func (noCustomers) CustomerByEmail(context.Context, string) (int64, i18n.Lang, bool, error) {
	return 0, "", false, nil
}
func (noCustomers) CustomerEmail(context.Context, int64) (string, error) { return "", nil }

// mailerFunc is a maildesk.Mailer (the maildesk tests send over real SMTP;
// here only the console's rendering of the outcome matters).
type mailerFunc func(email.Outgoing) error

func (f mailerFunc) Send(_ context.Context, o email.Outgoing) error { return f(o) }

// emailChannel turns the email channel on (support@okpay.test; every
// sender a visitor) and returns it.
func (e *staffEnv) emailChannel(t *testing.T, cfg maildesk.Config) *maildesk.Service {
	t.Helper()
	d := e.id.Deps
	cfg.Addresses, _ = maildesk.ParseAddresses("support@okpay.test")
	svc, err := maildesk.New(maildesk.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Desk: e.desk, Customers: noCustomers{}, Catalog: e.cat,
		Tokens: maildesk.NewTokens(d.Keys)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnableEmailDeliveries(svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestDeskConsoleEmailDelivery: an agent's reply in an email conversation
// shows whether its mail was sent or failed, with the error.
func TestDeskConsoleEmailDelivery(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	svc := e.emailChannel(t, maildesk.Config{})
	res, err := svc.Ingest(e.ctx, []byte("From: li@example.cn\r\nTo: support@okpay.test\r\nSubject: Fees\r\nMessage-ID: <w1@example.cn>\r\n\r\nWhat are the fees?\r\n"),
		maildesk.Envelope{RcptTo: []string{"support@okpay.test"}})
	if err != nil || res.Outcome != maildesk.Started {
		t.Fatalf("%+v %v", res, err)
	}
	ok, err := e.desk.SendMessage(e.ctx, desk.Agent(sup.agent.ID), res.ConversationID, desk.MessageInput{Body: "Transfers are free."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.QueueReplies(e.ctx); err != nil {
		t.Fatal(err)
	}
	disp, _ := maildesk.NewDispatcher(svc, mailerFunc(func(email.Outgoing) error { return nil }), maildesk.DeliverConfig{})
	if _, err := disp.Deliver(e.ctx); err != nil {
		t.Fatal(err)
	}
	bad, err := e.desk.SendMessage(e.ctx, desk.Agent(sup.agent.ID), res.ConversationID, desk.MessageInput{Body: "Anything else?"})
	if err != nil {
		t.Fatal(err)
	}
	svc.QueueReplies(e.ctx)
	disp, _ = maildesk.NewDispatcher(svc, mailerFunc(func(email.Outgoing) error {
		return errors.New("relay said 554 no")
	}), maildesk.DeliverConfig{MaxAttempts: 1})
	disp.Deliver(e.ctx)

	page := sup.c.get("/staff/desk/conversation?id=" + desk.ConversationRef(res.ConversationID)).body
	wantContains(t, page, `data-testid="desk-email-delivery" data-state="sent"`, html.EscapeString(e.text(i18n.En, "email.delivery.sent")),
		`data-state="failed"`, e.text(i18n.En, "email.delivery.failed"), `data-testid="desk-email-error">relay said 554 no`)
	// The customer's message links the mail as received.
	ms, _ := e.desk.Messages(e.ctx, desk.System, res.ConversationID, 0, 10)
	link := "/staff/desk/email/original?id=" + ids.Format(desk.MessagePrefix, ms[0].ID)
	wantContains(t, page, `href="`+html.EscapeString(link)+`" data-testid="desk-email-original"`)
	if n := strings.Count(page, `data-testid="desk-email-original"`); n != 1 {
		t.Fatalf("%d original links, want 1 (the customer's mail)", n)
	}
	orig := sup.c.get(link)
	wantStatus(t, orig, http.StatusOK)
	if orig.Header.Get("Content-Type") != "message/rfc822" || !strings.HasPrefix(orig.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(orig.body, "Message-ID: <w1@example.cn>") {
		t.Fatalf("original: %v %q", orig.Header, orig.body)
	}
	wantStatus(t, sup.c.get("/staff/desk/email/original?id="+ids.Format(desk.MessagePrefix, ok.ID)), http.StatusNotFound)
	if strings.Count(page, `data-testid="desk-email-delivery"`) != 2 {
		t.Fatalf("delivery badges on %d messages, want 2 (%d, %d)", strings.Count(page, `data-testid="desk-email-delivery"`), ok.ID, bad.ID)
	}
}

// oneCustomer has one customer with a verified address.
type oneCustomer struct {
	addr string
	id   int64
}

func (c oneCustomer) CustomerByEmail(_ context.Context, addr string) (int64, i18n.Lang, bool, error) {
	return c.id, i18n.En, strings.EqualFold(addr, c.addr), nil
}
func (c oneCustomer) CustomerEmail(context.Context, int64) (string, error) { return c.addr, nil }

// TestDeskConsoleEmailUnverifiedSender: in a customer's conversation, a
// mail whose sender was not authenticated carries the "unverified sender"
// warning; one the trusted upstream vouched for does not.
func TestDeskConsoleEmailUnverifiedSender(t *testing.T) {
	t.Parallel()
	e := newStaffEnv(t, agent.Config{})
	sup := e.newMember(t, agent.RoleSupervisor)
	d := e.id.Deps
	addrs, _ := maildesk.ParseAddresses("support@okpay.test")
	svc, err := maildesk.New(maildesk.Deps{DB: d.DB, Clock: d.Clock, IDs: d.IDs, Desk: e.desk, Customers: oneCustomer{"li@example.cn", 4242}, Catalog: e.cat,
		Tokens: maildesk.NewTokens(d.Keys)}, maildesk.Config{Addresses: addrs, Auth: email.AuthOptions{TrustedAuthServID: "mx.okpay.test",
		LookupTXT: func(context.Context, string) ([]string, error) { return nil, errors.New("no DNS in this test") }}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.server.EnableEmailDeliveries(svc); err != nil {
		t.Fatal(err)
	}
	vouched := "From: li@example.cn\r\nTo: support@okpay.test\r\nSubject: Fees\r\nMessage-ID: <w1@example.cn>\r\n" +
		"Authentication-Results: mx.okpay.test; dmarc=pass header.from=example.cn\r\n\r\nWhat are the fees?\r\n"
	res, err := svc.Ingest(e.ctx, []byte(vouched), maildesk.Envelope{RcptTo: []string{"support@okpay.test"}})
	if err != nil || res.Outcome != maildesk.Started || !res.Auth.Authenticated {
		t.Fatalf("%+v %v", res, err)
	}
	page := sup.c.get("/staff/desk/conversation?id=" + desk.ConversationRef(res.ConversationID)).body
	if strings.Contains(page, `data-testid="desk-email-unverified"`) {
		t.Fatal("warning on an authenticated mail")
	}
	forged := "From: li@example.cn\r\nTo: support@okpay.test\r\nSubject: Re: Fees\r\nMessage-ID: <f1@evil.example>\r\nIn-Reply-To: <w1@example.cn>\r\n\r\nSend my balance to this card.\r\n"
	res2, err := svc.Ingest(e.ctx, []byte(forged), maildesk.Envelope{RcptTo: []string{"support@okpay.test"}})
	if err != nil || res2.Outcome != maildesk.Attached || res2.ConversationID != res.ConversationID || !res2.Unverified {
		t.Fatalf("%+v %v", res2, err)
	}
	page = sup.c.get("/staff/desk/conversation?id=" + desk.ConversationRef(res.ConversationID)).body
	wantContains(t, page, `data-testid="desk-email-unverified"`, html.EscapeString(e.text(i18n.En, "email.unverified")), "no DKIM signature")
	if n := strings.Count(page, `data-testid="desk-email-unverified"`); n != 1 {
		t.Fatalf("%d warnings, want 1 (the forged mail)", n)
	}
}
