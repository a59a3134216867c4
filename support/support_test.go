package support_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/secret"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/support"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// harness is the support service over identity, desk and the audit log on
// one database, with a customer in a conversation and agents of each role.
type harness struct {
	t     *testing.T
	ctx   context.Context
	db    *sqldb.DB
	clock *clock.Manual
	id    *identity.Service
	desk  *desk.Service
	log   *audit.Log
	svc   *support.Service
	// user is the customer (email ada@example.com); conv their chat.
	user int64
	conv int64
	// agent, agent2 (role agent), sup, sup2 (supervisor), admin.
	agent, agent2, sup, sup2, admin *agent.Agent
	meta                            agent.Meta
}

var shared struct{ cat *i18n.Catalog }

func newHarness(t *testing.T, db *sqldb.DB) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), db: db, clock: clock.NewManual(t0), log: audit.New(db),
		meta: agent.Meta{IP: "198.51.100.9", UserAgent: "test", RequestID: "req-1"}}
	if shared.cat == nil {
		c, err := i18n.New()
		if err != nil {
			t.Fatal(err)
		}
		shared.cat = c
	}
	master, err := secret.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(password.Options{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}})
	if err != nil {
		t.Fatal(err)
	}
	gen := &ids.Sequence{}
	outbox := notify.NewOutbox(db, keys.Sealer("notify"), h.clock, gen)
	h.id, err = identity.New(identity.Deps{DB: db, Clock: h.clock, IDs: gen, Keys: keys, Hasher: hasher,
		CheckPassword: func(string, ...string) error { return nil }, Outbox: outbox, Catalog: shared.cat}, identity.Config{BaseURL: "https://okpay.test"})
	if err != nil {
		t.Fatal(err)
	}
	if h.desk, err = desk.New(desk.Deps{DB: db, Clock: h.clock, IDs: gen, Bus: realtime.NewMemory(0)}, desk.Config{}); err != nil {
		t.Fatal(err)
	}
	if h.svc, err = support.New(support.Deps{DB: db, Clock: h.clock, IDs: gen, Identity: h.id, Desk: h.desk, Audit: h.log, Outbox: outbox}, support.Config{}); err != nil {
		t.Fatal(err)
	}
	now := t0.UnixMicro()
	h.user = gen.Next()
	if _, err := db.Write.ExecContext(h.ctx, `INSERT INTO users (id, email, phone, password_hash, status, lang, email_verified_at, phone_verified_at, created_at, updated_at)
		VALUES ($1, 'ada@example.com', '+8613800138000', 'x', 'active', 'en', $2, $2, $2, $2)`, h.user, now); err != nil {
		t.Fatal(err)
	}
	c, err := h.desk.StartConversation(h.ctx, desk.Customer(h.user), desk.StartInput{Category: desk.CategoryAccount, Body: "Please help."})
	if err != nil {
		t.Fatal(err)
	}
	h.conv = c.ID
	mk := func(email string, roles ...agent.Role) *agent.Agent {
		a := &agent.Agent{ID: gen.Next(), Email: email, DisplayName: email, Roles: roles, Status: agent.StatusActive}
		if _, err := db.Write.ExecContext(h.ctx, `INSERT INTO agents (id, email, display_name, created_by, created_at, updated_at) VALUES ($1, $2, $2, 'test', $3, $3)`,
			a.ID, email, now); err != nil {
			t.Fatal(err)
		}
		return a
	}
	h.agent = mk("agent@okpay.test", agent.RoleAgent)
	h.agent2 = mk("agent2@okpay.test", agent.RoleAgent)
	h.sup = mk("sup@okpay.test", agent.RoleSupervisor)
	h.sup2 = mk("sup2@okpay.test", agent.RoleSupervisor)
	h.admin = mk("admin@okpay.test", agent.RoleAdmin)
	return h
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func (h *harness) userRow() *identity.User {
	h.t.Helper()
	u, err := h.id.FindUser(h.ctx, h.user)
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// events returns the customer's audit events named name, newest first.
func (h *harness) events(name string) []audit.Entry {
	h.t.Helper()
	es, err := h.log.List(h.ctx, ids.Format(identity.UserPrefix, h.user), audit.MaxListLimit, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []audit.Entry
	for _, e := range es {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// TestSUP03_ContextIsMaskedAndRevealsAreLogged: the context masks the
// email and phone; a reveal needs a reason and customer:reveal_pii, shows
// one field and is logged with the actor, role, case and reason (never
// the value).
func TestSUP03_ContextIsMaskedAndRevealsAreLogged(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		cc, err := h.svc.Context(h.ctx, h.agent, h.conv)
		if err != nil {
			t.Fatal(err)
		}
		if cc.Email != "a•••@example.com" || cc.Phone != "+86•••8000" {
			t.Fatalf("masked email %q phone %q", cc.Email, cc.Phone)
		}
		if dump := fmt.Sprintf("%+v %+v", *cc, *cc.Case.Conv); strings.Contains(dump, "ada@example.com") || strings.Contains(dump, "13800138000") {
			t.Fatalf("the context holds unmasked personal data: %s", dump)
		}
		if cc.Case.Ref != desk.ConversationRef(h.conv) || cc.Frozen {
			t.Fatalf("context %+v", cc)
		}
		// An admin may not read customers at all.
		_, err = h.svc.Context(h.ctx, h.admin, h.conv)
		wantCode(t, err, okpay.EForbidden)

		_, err = h.svc.Reveal(h.ctx, h.agent, h.conv, support.FieldEmail, "  ", h.meta)
		wantCode(t, err, okpay.EInvalid)
		_, err = h.svc.Reveal(h.ctx, h.agent, h.conv, "password", "why", h.meta)
		wantCode(t, err, okpay.EInvalid)
		_, err = h.svc.Reveal(h.ctx, h.admin, h.conv, support.FieldEmail, "curious", h.meta)
		wantCode(t, err, okpay.EForbidden)
		if n := len(h.events(support.EventReveal)); n != 0 {
			t.Fatalf("%d reveals logged for refused reveals", n)
		}
		v, err := h.svc.Reveal(h.ctx, h.agent, h.conv, support.FieldEmail, "customer asks which address we mail", h.meta)
		if err != nil || v != "ada@example.com" {
			t.Fatalf("reveal: %q %v", v, err)
		}
		es := h.events(support.EventReveal)
		if len(es) != 1 {
			t.Fatalf("%d reveal events", len(es))
		}
		e := es[0]
		if e.Actor != h.agent.Ref() || e.CaseID != desk.ConversationRef(h.conv) || e.Reason != "customer asks which address we mail" ||
			e.Details["role"] != "agent" || e.Details["field"] != "email" || e.IP != h.meta.IP || e.At.Location() != time.UTC {
			t.Fatalf("reveal event %+v", e)
		}
		for k, v := range e.Details {
			if strings.Contains(v, "ada@") {
				t.Fatalf("the reveal logged the value in %s", k)
			}
		}
	})
}

// TestSUP04_NoActionOnOwnAccount: an agent whose email is the customer's
// cannot open the context, reveal, act or approve on that account.
func TestSUP04_NoActionOnOwnAccount(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		self := &agent.Agent{ID: h.sup2.ID, Email: "ADA@example.com", Roles: []agent.Role{agent.RoleSupervisor}, Status: agent.StatusActive}
		_, err := h.svc.Context(h.ctx, self, h.conv)
		wantCode(t, err, support.EOwnAccount)
		_, err = h.svc.Reveal(h.ctx, self, h.conv, support.FieldPhone, "x", h.meta)
		wantCode(t, err, support.EOwnAccount)
		wantCode(t, h.svc.Freeze(h.ctx, self, h.conv, "x", h.meta), support.EOwnAccount)
		// Someone else freezes and asks to unfreeze; the customer-agent
		// cannot approve it.
		if err := h.svc.Freeze(h.ctx, h.agent, h.conv, "suspicious login", h.meta); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.SendReset(h.ctx, h.agent, h.conv, "rsk-06", h.meta); err != nil {
			t.Fatal(err)
		}
		r, err := h.svc.CreateRequest(h.ctx, h.agent, h.conv, support.RequestInput{Kind: support.KindUnfreeze, Reason: "verified", Verification: support.VerifyIDSelfie,
			Evidence: "passport ••12 + selfie", DevicesReviewed: true, MethodsReviewed: true}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Approve(h.ctx, self, r.ID, "ok", h.meta)
		wantCode(t, err, support.EOwnAccount)
		if !h.userRow().Frozen {
			t.Fatal("the account was unfrozen by its owner")
		}
	})
}

// TestSUP02_UnfreezeMakerChecker: a freeze is immediate and audited with
// before/after; an unfreeze request needs RSK-06's conditions (evidence,
// reviews, a password reset after the freeze); its maker cannot approve
// it, nor can an agent without approval:approve; another supervisor's
// approval unfreezes in the same transaction, audited with both agents.
func TestSUP02_UnfreezeMakerChecker(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		caseRef := desk.ConversationRef(h.conv)
		wantCode(t, h.svc.Freeze(h.ctx, h.agent, h.conv, "", h.meta), okpay.EInvalid)
		if err := h.svc.Freeze(h.ctx, h.agent, h.conv, "account takeover reported", h.meta); err != nil {
			t.Fatal(err)
		}
		if !h.userRow().Frozen {
			t.Fatal("not frozen")
		}
		acts := h.events(support.EventAction)
		if len(acts) != 1 || acts[0].Details["before"] != "status=active" || acts[0].Details["after"] != "status=frozen" || acts[0].Actor != h.agent.Ref() ||
			acts[0].CaseID != caseRef || acts[0].Details["action"] != "freeze" || acts[0].Details["role"] != "agent" {
			t.Fatalf("freeze audit %+v", acts)
		}
		wantCode(t, h.svc.Freeze(h.ctx, h.agent, h.conv, "again", h.meta), support.EAlreadyFrozen)

		in := support.RequestInput{Kind: support.KindUnfreeze, Reason: "customer verified", Verification: support.VerifyIDSelfie,
			Evidence: "passport ending 12 and live selfie", DevicesReviewed: true, MethodsReviewed: true}
		_, err := h.svc.CreateRequest(h.ctx, h.agent, h.conv, in, h.meta)
		wantCode(t, err, support.ENoReset)
		if err := h.svc.SendReset(h.ctx, h.agent, h.conv, "RSK-06 reset", h.meta); err != nil {
			t.Fatal(err)
		}
		bad := in
		bad.Evidence, bad.DevicesReviewed = "", false
		_, err = h.svc.CreateRequest(h.ctx, h.agent, h.conv, bad, h.meta)
		wantCode(t, err, okpay.EInvalid)
		if f := err.(*okpay.Error).Fields; f["evidence"] == "" || f["reviewed"] == "" {
			t.Fatalf("fields %v", f)
		}
		r, err := h.svc.CreateRequest(h.ctx, h.agent, h.conv, in, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != support.StatusPending || r.MakerID != h.agent.ID || r.CaseID != caseRef || r.Payload["evidence"] != in.Evidence {
			t.Fatalf("request %+v", r)
		}
		_, err = h.svc.CreateRequest(h.ctx, h.agent2, h.conv, in, h.meta)
		wantCode(t, err, support.ERequestPending)

		// The maker, even a supervisor maker, cannot approve their own.
		_, err = h.svc.Approve(h.ctx, h.agent, r.ID, "mine", h.meta)
		wantCode(t, err, okpay.EForbidden) // agents lack approval:approve
		if !h.userRow().Frozen {
			t.Fatal("unfrozen without approval")
		}
		// A different supervisor approves the agent's request.
		_, err = h.svc.Approve(h.ctx, h.sup, r.ID, "", h.meta)
		wantCode(t, err, okpay.EInvalid)
		got, err := h.svc.Approve(h.ctx, h.sup, r.ID, "evidence checked", h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != support.StatusApproved || got.CheckerID != h.sup.ID {
			t.Fatalf("approved %+v", got)
		}
		u := h.userRow()
		if u.Frozen || !u.HoldUntil.After(h.clock.Now()) {
			t.Fatalf("after approval: frozen %v hold %v", u.Frozen, u.HoldUntil)
		}
		ap := h.events(support.EventRequestApproved)
		if len(ap) != 1 || ap[0].Actor != h.sup.Ref() || ap[0].Details["maker"] != h.agent.Ref() || ap[0].Details["role"] != "supervisor" ||
			ap[0].Details["before"] != "status=frozen" || ap[0].Details["after"] != "status=active" || ap[0].CaseID != caseRef || ap[0].Reason != "evidence checked" {
			t.Fatalf("approval audit %+v", ap)
		}
		if un := h.events(audit.AccountUnfrozen); len(un) != 1 || un[0].Actor != h.sup.Ref() || un[0].CaseID != caseRef {
			t.Fatalf("unfreeze audit %+v", un)
		}
		_, err = h.svc.Approve(h.ctx, h.sup2, r.ID, "again", h.meta)
		wantCode(t, err, support.ERequestClosed)
		// The chain still verifies.
		if rep, err := h.log.Verify(h.ctx); err != nil || !rep.OK {
			t.Fatalf("audit chain: %v %v", rep.String(), err)
		}
	})
}

// TestSUP02_SelfApprovalRefused: a supervisor who made a request gets
// ESelfApproval for approving and rejecting it; another rejects it and
// nothing changes; the rejection is audited.
func TestSUP02_SelfApprovalRefused(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		if err := h.svc.Freeze(h.ctx, h.sup, h.conv, "phishing", h.meta); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.SendReset(h.ctx, h.sup, h.conv, "reset", h.meta); err != nil {
			t.Fatal(err)
		}
		r, err := h.svc.CreateRequest(h.ctx, h.sup, h.conv, support.RequestInput{Kind: support.KindUnfreeze, Reason: "verified", Verification: support.VerifyPasskey,
			Evidence: "signed in with passkey from 2025", DevicesReviewed: true, MethodsReviewed: true}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Approve(h.ctx, h.sup, r.ID, "I checked it myself", h.meta)
		wantCode(t, err, support.ESelfApproval)
		_, err = h.svc.Reject(h.ctx, h.sup, r.ID, "never mind", h.meta)
		wantCode(t, err, support.ESelfApproval)
		if !h.userRow().Frozen {
			t.Fatal("self-approval unfroze the account")
		}
		if n := len(h.events(support.EventRequestApproved)); n != 0 {
			t.Fatalf("%d approvals logged", n)
		}
		got, err := h.svc.Reject(h.ctx, h.sup2, r.ID, "evidence too thin", h.meta)
		if err != nil || got.Status != support.StatusRejected {
			t.Fatalf("reject: %+v %v", got, err)
		}
		if !h.userRow().Frozen {
			t.Fatal("a rejection unfroze the account")
		}
		rj := h.events(support.EventRequestRejected)
		if len(rj) != 1 || rj[0].Actor != h.sup2.Ref() || rj[0].Details["after"] != "request=rejected" || rj[0].Details["maker"] != h.sup.Ref() {
			t.Fatalf("rejection audit %+v", rj)
		}
	})
}

// TestHoldLiftRecoveryDelayAndExpiry: lifting a hold runs on approval;
// an assisted recovery waits REC-08's 72 h; a request nobody decided
// expires.
func TestHoldLiftRecoveryDelayAndExpiry(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		_, err := h.svc.CreateRequest(h.ctx, h.sup, h.conv, support.RequestInput{Kind: support.KindLiftHold, Reason: "x"}, h.meta)
		wantCode(t, err, support.ENoHold)
		hold := t0.Add(24 * time.Hour)
		if _, err := db.Write.ExecContext(h.ctx, `UPDATE users SET hold_until = $1, hold_reason = 'password_reset' WHERE id = $2`, hold.UnixMicro(), h.user); err != nil {
			t.Fatal(err)
		}
		// An agent may not ask to lift a hold (hold:lift).
		_, err = h.svc.CreateRequest(h.ctx, h.agent, h.conv, support.RequestInput{Kind: support.KindLiftHold, Reason: "x"}, h.meta)
		wantCode(t, err, okpay.EForbidden)
		r, err := h.svc.CreateRequest(h.ctx, h.sup, h.conv, support.RequestInput{Kind: support.KindLiftHold, Reason: "customer verified by video"}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Approve(h.ctx, h.sup2, r.ID, "ok", h.meta); err != nil {
			t.Fatal(err)
		}
		if u := h.userRow(); !u.HoldUntil.IsZero() {
			t.Fatalf("hold still until %v", u.HoldUntil)
		}
		ap := h.events(support.EventRequestApproved)
		if len(ap) != 1 || ap[0].Details["before"] != "hold_until="+hold.Format(time.RFC3339) || ap[0].Details["after"] != "hold_until=none" {
			t.Fatalf("lift audit %+v", ap)
		}

		// Assisted recovery: evidence is mandatory, the delay holds.
		_, err = h.svc.CreateRequest(h.ctx, h.sup, h.conv, support.RequestInput{Kind: support.KindResetFactors, Reason: "lost phone"}, h.meta)
		wantCode(t, err, okpay.EInvalid)
		rf, err := h.svc.CreateRequest(h.ctx, h.sup, h.conv, support.RequestInput{Kind: support.KindResetFactors, Reason: "lost phone and codes",
			Verification: support.VerifyIDSelfie, Evidence: "ID card ••34, selfie matched by vendor check 991"}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Approve(h.ctx, h.sup2, rf.ID, "ok", h.meta)
		wantCode(t, err, support.ERecoveryDelay)
		h.clock.Advance(72 * time.Hour)
		if _, err := h.svc.Approve(h.ctx, h.sup2, rf.ID, "delay passed, nobody cancelled", h.meta); err != nil {
			t.Fatal(err)
		}
		if u := h.userRow(); u.TOTPEnabled || u.Passkeys != 0 || !u.HoldUntil.After(h.clock.Now()) {
			t.Fatalf("after recovery: %+v", u)
		}
		if mfa := h.events(audit.AuthnMFADisabled); len(mfa) != 1 || mfa[0].Actor != h.sup2.Ref() {
			t.Fatalf("factor reset audit %+v", mfa)
		}

		// Expiry.
		if err := h.svc.Freeze(h.ctx, h.agent, h.conv, "again", h.meta); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.SendReset(h.ctx, h.agent, h.conv, "reset", h.meta); err != nil {
			t.Fatal(err)
		}
		ur, err := h.svc.CreateRequest(h.ctx, h.agent, h.conv, support.RequestInput{Kind: support.KindUnfreeze, Reason: "verified", Verification: support.VerifyIDSelfie,
			Evidence: "passport", DevicesReviewed: true, MethodsReviewed: true}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(h.svc.Config().RequestTTL)
		if l, err := h.svc.Requests(h.ctx, support.RequestFilter{Status: support.StatusPending, CustomerID: h.user}); err != nil || len(l) != 0 {
			t.Fatalf("pending after expiry: %v %v", l, err)
		}
		if l, err := h.svc.Requests(h.ctx, support.RequestFilter{CustomerID: h.user}); err != nil || len(l) == 0 || l[0].ID != ur.ID || l[0].Status != support.StatusExpired {
			t.Fatalf("requests after expiry: %v %v", l, err)
		}
		_, err = h.svc.Approve(h.ctx, h.sup, ur.ID, "late", h.meta)
		wantCode(t, err, support.ERequestClosed)
		if got, _ := h.svc.FindRequest(h.ctx, ur.ID); got.Status != support.StatusExpired {
			t.Fatalf("status %s, want expired", got.Status)
		}
		// A new request can be made once the old one expired.
		if _, err := h.svc.CreateRequest(h.ctx, h.agent, h.conv, support.RequestInput{Kind: support.KindUnfreeze, Reason: "verified", Verification: support.VerifyIDSelfie,
			Evidence: "passport", DevicesReviewed: true, MethodsReviewed: true}, h.meta); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMasking checks the mask functions on their own.
func TestMasking(t *testing.T) {
	for in, want := range map[string]string{"": "", "ada@example.com": "a•••@example.com", "x": "•••", "张三@例子.中国": "张•••@例子.中国"} {
		if got := support.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"": "", "+8613800138000": "+86•••8000", "12": "•••", "5551234": "•••1234"} {
		if got := support.MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"": "", "203.0.113.7": "203.0.x.x", "::ffff:198.51.100.2": "198.51.x.x", "2001:db8::1": "2001:db8:x:x:x:x:x:x", "junk": "•••"} {
		if got := support.MaskIP(in); got != want {
			t.Errorf("MaskIP(%q) = %q, want %q", in, got, want)
		}
	}
}
