package phone_test

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

func (h *harness) phoneConv(customer int64) int64 {
	h.t.Helper()
	c, err := h.desk.StartConversation(h.ctx, desk.System, desk.StartInput{Channel: desk.ChannelPhone, Category: desk.CategoryAccount, CustomerID: customer})
	if err != nil {
		h.t.Fatal(err)
	}
	return c.ID
}

// appCode returns the code of the customer's newest in-app notification:
// the notification holds no code but the link to the customer's page,
// which shows it.
func (h *harness) appCode() string {
	h.t.Helper()
	h.deliver()
	ns, err := h.outbox.ListInApp(h.ctx, h.user, 1)
	if err != nil || len(ns) == 0 {
		h.t.Fatalf("no in-app notification: %v", err)
	}
	if ns[0].Kind != "phone_verify" || codeRE.MatchString(ns[0].Body) || codeRE.MatchString(ns[0].Title) {
		h.t.Fatalf("notification %+v", ns[0])
	}
	m := linkRE.FindStringSubmatch(ns[0].Body)
	if m == nil {
		h.t.Fatalf("no link in %q", ns[0].Body)
	}
	id, ok := phone.ParseChallengeRef(m[1])
	if !ok {
		h.t.Fatalf("link %q", m[0])
	}
	c, err := h.svc.CustomerChallenge(h.ctx, h.user, id)
	if err != nil || !c.Waiting() || len(c.Code) != 6 || strings.Contains(ns[0].Body, c.Code) {
		h.t.Fatalf("challenge %+v %v", c, err)
	}
	return c.Code
}

var linkRE = regexp.MustCompile(`/account/phone-verify/(pvc_[0-9a-z]+)`)

// TestSUP05_CallerVerification: the code goes to the customer's own app
// (or by SMS to the verified number on file), is stored only as a hash,
// allows 5 tries and 5 minutes; only the right code raises the level, with
// the agent, method and time recorded and audited; the level lapses.
func TestSUP05_CallerVerification(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		conv := h.phoneConv(h.user)
		a := phone.Actor{AgentID: 77, AgentRef: "agt_test", Roles: "agent", IP: "198.51.100.7"}

		// Not signed in to the app: the app method is refused.
		_, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp)
		wantCode(t, err, phone.ENoAppSession)
		// Only in phone conversations.
		chat, _ := h.desk.StartConversation(h.ctx, desk.Customer(h.user), desk.StartInput{Category: desk.CategoryAccount})
		_, err = h.svc.SendChallenge(h.ctx, a, chat.ID, phone.MethodSMS)
		wantCode(t, err, phone.ENotPhone)

		h.signIn(h.user)
		ch, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp)
		if err != nil || !ch.ExpiresAt.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("challenge %+v %v", ch, err)
		}
		code := h.appCode()
		// Stored only as a hash.
		var hash []byte
		if err := db.Read.QueryRowContext(h.ctx, `SELECT code_hash FROM phone_challenges WHERE id = $1`, ch.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(hash, []byte(code)) || len(hash) != 32 {
			t.Fatalf("stored %x", hash)
		}
		if l, _ := h.svc.Level(h.ctx, conv); l.Verified() || l.Pending == nil {
			t.Fatalf("level before the code: %+v", l)
		}
		wrong := "000000"
		if wrong == code {
			wrong = "000001"
		}
		_, err = h.svc.ConfirmCode(h.ctx, a, conv, wrong)
		wantCode(t, err, phone.EWrongCode)
		if ok, _ := h.svc.CallerVerified(h.ctx, conv); ok {
			t.Fatal("verified by a wrong code")
		}
		l, err := h.svc.ConfirmCode(h.ctx, a, conv, code)
		if err != nil || !l.Verified() || l.AgentID != 77 || l.Method != phone.MethodApp || !l.VerifiedAt.Equal(t0) {
			t.Fatalf("level %+v %v", l, err)
		}
		es, err := h.log.List(h.ctx, ids.Format(identity.UserPrefix, h.user), 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]int{}
		for _, e := range es {
			names[e.Name]++
			if e.Name == phone.EventCallerVerified && (e.Actor != "agt_test" || e.CaseID != desk.ConversationRef(conv) || e.IP != a.IP) {
				t.Fatalf("audit %+v", e)
			}
			for _, v := range e.Details {
				if strings.Contains(v, code) {
					t.Fatal("the code is in the audit log")
				}
			}
		}
		if names[phone.EventChallengeSent] != 1 || names[phone.EventChallengeFailed] != 1 || names[phone.EventCallerVerified] != 1 {
			t.Fatalf("audit events %v", names)
		}
		// The code is used up.
		_, err = h.svc.ConfirmCode(h.ctx, a, conv, code)
		wantCode(t, err, phone.ENoChallenge)
		// The level lapses after VerifiedTTL.
		h.clock.Advance(31 * time.Minute)
		if ok, _ := h.svc.CallerVerified(h.ctx, conv); ok {
			t.Fatal("still verified after 31 minutes")
		}

		// SMS goes to the verified number on file; 5 wrong tries end it.
		if _, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodSMS); err != nil {
			t.Fatal(err)
		}
		h.deliver()
		if len(h.sms.msgs) != 1 || h.sms.msgs[0].To != "+8613800138000" {
			t.Fatalf("sms %+v", h.sms.msgs)
		}
		smsCode := codeRE.FindString(h.sms.msgs[0].Body)
		bad := "111111"
		if bad == smsCode {
			bad = "222222"
		}
		for i := 0; i < 5; i++ {
			_, err = h.svc.ConfirmCode(h.ctx, a, conv, bad)
			wantCode(t, err, phone.EWrongCode)
		}
		_, err = h.svc.ConfirmCode(h.ctx, a, conv, smsCode)
		wantCode(t, err, phone.ENoChallenge)

		// Expiry: the right code after 5 minutes is refused.
		h.signIn(h.user) // the first session went idle meanwhile
		if _, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp); err != nil {
			t.Fatal(err)
		}
		code = h.appCode()
		h.clock.Advance(5*time.Minute + time.Second)
		_, err = h.svc.ConfirmCode(h.ctx, a, conv, code)
		wantCode(t, err, phone.ENoChallenge)

		// At most 3 codes per 15 minutes in a conversation.
		h.clock.Advance(15 * time.Minute)
		h.signIn(h.user)
		for i := 0; i < 3; i++ {
			if _, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp); err != nil {
				t.Fatal(err)
			}
		}
		_, err = h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp)
		wantCode(t, err, phone.ETooManyChallenges)
		// A customer without a verified phone gets no SMS.
		other := h.phoneConv(h.stranger)
		_, err = h.svc.SendChallenge(h.ctx, a, other, phone.MethodSMS)
		wantCode(t, err, phone.ENoVerifiedPhone)
		_, err = h.svc.ConfirmCode(h.ctx, a, conv, "12ab56")
		wantCode(t, err, okpay.EInvalid)
	})
}

// storedValues returns every value of every row of the phone_* and inapp_*
// tables.
func storedValues(t *testing.T, h *harness) []any {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE 'phone%' OR name LIKE 'inapp%')`
	if h.db.Dialect == sqldb.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND (table_name LIKE 'phone%' OR table_name LIKE 'inapp%')`
	}
	rows, err := h.db.Read.QueryContext(h.ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("tables %v", tables)
	}
	var out []any
	for _, tb := range tables {
		rows, err := h.db.Read.QueryContext(h.ctx, `SELECT * FROM `+tb)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, vals...)
		}
		rows.Close()
	}
	return out
}

// TestSUP05_NoStoredCode: the in-app challenge stores no code anywhere (not
// in the notification, not in any phone_* or inapp_* row); the customer's
// page shows it to the owner only, while it waits; "I am not on a call"
// cancels it, is audited and shown to the agent.
func TestSUP05_NoStoredCode(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		conv := h.phoneConv(h.user)
		a := phone.Actor{AgentID: 77, AgentRef: "agt_test", Roles: "agent"}
		h.signIn(h.user)
		ch, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp)
		if err != nil {
			t.Fatal(err)
		}
		code := h.appCode()
		// Derived, so the same on every read; another challenge has another.
		if c2, _ := h.svc.CustomerChallenge(h.ctx, h.user, ch.ID); c2 == nil || c2.Code != code {
			t.Fatalf("second read %+v", c2)
		}
		n, _ := strconv.Atoi(code)
		for _, v := range storedValues(t, h) {
			switch v := v.(type) {
			case string:
				if strings.Contains(v, code) {
					t.Fatalf("the code is stored: %q", v)
				}
			case []byte:
				if bytes.Contains(v, []byte(code)) {
					t.Fatalf("the code is stored: %q", v)
				}
			case int64:
				if v == int64(n) && n > 0 {
					t.Fatalf("the code is stored as %d", v)
				}
			}
		}
		// Only the owner sees it.
		_, err = h.svc.CustomerChallenge(h.ctx, h.stranger, ch.ID)
		wantCode(t, err, okpay.ENotFound)
		if err := h.svc.RefuseChallenge(h.ctx, h.stranger, ch.ID, phone.Requester{}); okpay.ErrorCode(err) != okpay.ENotFound {
			t.Fatalf("a stranger refused: %v", err)
		}
		// After confirmation the page is gone.
		if _, err := h.svc.ConfirmCode(h.ctx, a, conv, code); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.CustomerChallenge(h.ctx, h.user, ch.ID)
		wantCode(t, err, okpay.ENotFound)

		// After expiry too.
		ch2, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp)
		if err != nil {
			t.Fatal(err)
		}
		if code2 := h.appCode(); code2 == code {
			t.Log("two challenges derived the same code (1 in 10^6)")
		}
		h.clock.Advance(5*time.Minute + time.Second)
		_, err = h.svc.CustomerChallenge(h.ctx, h.user, ch2.ID)
		wantCode(t, err, okpay.ENotFound)
		wantCode(t, h.svc.RefuseChallenge(h.ctx, h.user, ch2.ID, phone.Requester{}), okpay.ENotFound)

		// Refusal: cancelled, audited, the agent sees it; the code no
		// longer confirms.
		h.signIn(h.user)
		ch3, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp)
		if err != nil {
			t.Fatal(err)
		}
		code3 := h.appCode()
		if err := h.svc.RefuseChallenge(h.ctx, h.user, ch3.ID, phone.Requester{IP: "203.0.113.9"}); err != nil {
			t.Fatal(err)
		}
		c3, err := h.svc.CustomerChallenge(h.ctx, h.user, ch3.ID)
		if err != nil || c3.State != phone.StateRefused || c3.Waiting() {
			t.Fatalf("refused challenge %+v %v", c3, err)
		}
		_, err = h.svc.ConfirmCode(h.ctx, a, conv, code3)
		wantCode(t, err, phone.ERefused)
		if l, _ := h.svc.Level(h.ctx, conv); !l.Refused || l.Pending != nil || l.Verified() { // the earlier verification ends too
			t.Fatalf("level after the refusal %+v", l)
		}
		wantCode(t, h.svc.RefuseChallenge(h.ctx, h.user, ch3.ID, phone.Requester{}), okpay.ENotFound)
		es, err := h.log.List(h.ctx, ids.Format(identity.UserPrefix, h.user), 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		refused := 0
		for _, e := range es {
			if e.Name == phone.EventChallengeRefused {
				refused++
				if e.Actor != ids.Format(identity.UserPrefix, h.user) || e.CaseID != desk.ConversationRef(conv) || e.IP != "203.0.113.9" {
					t.Fatalf("audit %+v", e)
				}
			}
		}
		if refused != 1 {
			t.Fatalf("%d refusal events", refused)
		}
		ms := h.messages(conv)
		if last := ms[len(ms)-1]; !last.Internal || !strings.Contains(last.Body, "not on a call") {
			t.Fatalf("last message %+v", last)
		}
		// A new code (after the rate window) clears the refusal.
		h.clock.Advance(15 * time.Minute)
		h.signIn(h.user)
		if _, err := h.svc.SendChallenge(h.ctx, a, conv, phone.MethodApp); err != nil {
			t.Fatal(err)
		}
		if l, _ := h.svc.Level(h.ctx, conv); l.Refused || l.Pending == nil {
			t.Fatalf("level after a new code %+v", l)
		}
	})
}
