package identity_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/audit"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/geoip"
	"github.com/okpay/okpay/identity/geoip/geoiptest"
	"github.com/okpay/okpay/identity/risk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// withGeo restarts the harness's service with the test GeoIP database
// (identity/geoip/geoiptest): the harness's own address, 203.0.113.7, is
// in Shanghai.
func (h *harness) withGeo() {
	h.t.Helper()
	db, err := geoip.Open(geoiptest.Write(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { db.Close() })
	h.locator = db
	h.build()
}

// from is the harness's meta with another client address.
func (h *harness) from(ip string) identity.Meta {
	m := h.meta
	m.IP = ip
	return m
}

// loginFrom signs in with the password and the SMS code from ip and
// returns the result of the second factor.
func (h *harness) loginFrom(a *account, ip string) *identity.LoginResult {
	h.t.Helper()
	m := h.from(ip)
	h.clock.Advance(61 * time.Second) // SMS codes go at most once a minute (MFA-03)
	res, err := h.svc.Login(h.ctx, a.email, a.password, m)
	if err != nil {
		h.t.Fatalf("login: %v", err)
	}
	res, err = h.svc.VerifyFactor(h.ctx, res.Token, identity.MethodSMS, h.lastCode(a.phone, "code_login"), m)
	if err != nil {
		h.t.Fatalf("second factor: %v", err)
	}
	return res
}

// auditDetails returns the details of the user's newest audit event
// named event.
func (h *harness) auditDetails(userID int64, event string) map[string]string {
	h.t.Helper()
	var raw string
	row := h.db.Read.QueryRowContext(h.ctx, `SELECT details FROM audit_log WHERE event = $1 AND subject = $2 ORDER BY seq DESC LIMIT 1`, event, userRefOf(userID))
	if err := row.Scan(&raw); err != nil {
		h.t.Fatalf("no %s audit event: %v", event, err)
	}
	var d map[string]string
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

func userRefOf(id int64) string { return ids.Format(identity.UserPrefix, id) }

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// SES-05, NOT-04, LOG-08: with a GeoIP database every session records
// where its sign-in came from, the sign-in audit records carry the place
// and its coordinates, and security notifications say "approximate
// location" in the user's language.
func TestSES05_SessionsAndNoticesCarryTheApproximateLocation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.withGeo()
		a := h.signUp() // from Shanghai
		ss := h.session(a.token)
		if ss.Location.Label("en") != "Shanghai, CN" || !ss.Location.HasCoords || ss.Location.Lat != 31.2304 {
			t.Fatalf("sign-up session location %+v", ss.Location)
		}
		if d := h.auditDetails(a.id, audit.AuthnLoginSuccess); d["location"] != "Shanghai, CN" || d["lat"] != "31.2304" || d["lon"] != "121.4737" {
			t.Fatalf("sign-up audit details %v", d)
		}

		// A new device in Tokyo, three hours later (possible travel).
		h.clock.Advance(3 * time.Hour)
		h.meta.DeviceID = "dev-tokyo"
		res := h.loginFrom(a, geoiptest.TokyoIP)
		if got := h.session(res.Token).Location.Label("en"); got != "Tokyo, JP" {
			t.Fatalf("Tokyo session at %q", got)
		}
		notes := h.messages(a.email, identity.NoteNewDevice)
		if len(notes) != 1 || !strings.Contains(notes[0].Body, "Approximate location: Tokyo, JP") {
			t.Fatalf("new-device notice: %+v", notes)
		}
		if d := h.auditDetails(a.id, audit.AuthnLoginSuccess); d["location"] != "Tokyo, JP" || d["lat"] != "35.6762" {
			t.Fatalf("login audit details %v", d)
		}
		// The list shows each session's place (SES-05).
		list, err := h.svc.Sessions(h.ctx, a.id, 0)
		if err != nil {
			t.Fatal(err)
		}
		places := map[string]bool{}
		for _, s := range list {
			places[s.Location.Label("en")] = true
		}
		if !places["Tokyo, JP"] {
			t.Fatalf("sessions list places %v", places)
		}
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Frozen {
			t.Fatal("possible travel froze the account")
		}

		// LOG-08: the right password and a wrong second factor, from an
		// address the database does not know.
		h.clock.Advance(61 * time.Second)
		m := h.from(geoiptest.UnknownIP)
		pending, err := h.svc.Login(h.ctx, a.email, a.password, m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.VerifyFactor(h.ctx, pending.Token, identity.MethodSMS, "000000", m)
		wantCode(t, err, identity.EInvalidCode)
		warn := h.messages(a.email, identity.NotePasswordNoMFA)
		if len(warn) != 1 || !strings.Contains(warn[0].Body, "Approximate location: unknown") {
			t.Fatalf("password-without-second-factor notice: %+v", warn)
		}
		if d := h.auditDetails(a.id, audit.AuthnMFAFail); d["location"] != "" {
			t.Fatalf("an unknown address got a location: %v", d)
		}

		// A zh-CN account reads the place in Chinese.
		accountSeq++
		zh := &account{email: "zh" + itoa(accountSeq) + "@example.com", phone: "+8613900139" + pad3(accountSeq), password: "correct horse battery staple zh"}
		flow, err := h.svc.Register(h.ctx, identity.RegisterInput{Email: zh.email, Phone: zh.phone, Password: zh.password, Lang: i18n.ZhCN}, h.meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.svc.VerifySignup(h.ctx, flow.Token, h.lastCode(zh.email, "code_verify_email"), h.lastCode(zh.phone, "code_verify_phone"), h.meta); err != nil {
			t.Fatal(err)
		}
		h.meta.DeviceID = "dev-zh"
		h.clock.Advance(3 * time.Hour)
		h.loginFrom(zh, geoiptest.TokyoIP)
		zhNotes := h.messages(zh.email, identity.NoteNewDevice)
		if len(zhNotes) != 1 || !strings.Contains(zhNotes[0].Body, "大致位置：东京, JP") {
			t.Fatalf("zh-CN new-device notice: %+v", zhNotes)
		}
		h.verifyAudit()
	})
}

// SES-05: without a GeoIP database nothing is located, the notices say
// "unknown", and the travel rule is inert.
func TestSES05_WithoutAGeoIPDatabaseTheLocationIsUnknown(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		a := h.signUp()
		if loc := h.session(a.token).Location; loc.Known() || loc.HasCoords {
			t.Fatalf("located without a database: %+v", loc)
		}
		h.meta.DeviceID = "dev-2"
		h.loginFrom(a, geoiptest.TokyoIP) // a minute after Shanghai, were it known
		notes := h.messages(a.email, identity.NoteNewDevice)
		if len(notes) != 1 || !strings.Contains(notes[0].Body, "Approximate location: unknown") {
			t.Fatalf("new-device notice: %+v", notes)
		}
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Frozen {
			t.Fatal("frozen without a GeoIP database")
		}
		if d := h.auditDetails(a.id, audit.AuthnLoginSuccess); d["location"] != "" || d["lat"] != "" {
			t.Fatalf("audit details without a database: %v", d)
		}
	})
}

// RSK-04: two sign-ins more than 900 km/h apart freeze the account through
// the risk rules, with the decision record in the audit log (RSK-07). The
// sign-in that tripped it completes, read-only; every other session ends.
func TestRSK04_ImpossibleTravelFreezesTheAccount(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		h.withGeo()
		a := h.signUp() // Shanghai
		// 165 km to Hangzhou in an hour, then back: possible.
		h.clock.Advance(time.Hour)
		h.loginFrom(a, "127.0.0.3")
		h.clock.Advance(time.Hour)
		home := h.loginFrom(a, geoiptest.ShanghaiIP)
		if u, _ := h.svc.FindUser(h.ctx, a.id); u.Frozen {
			t.Fatal("possible travel froze the account")
		}

		// Tokyo, about 1754 km away, 61 s later.
		tokyo := h.loginFrom(a, geoiptest.TokyoIP)
		u, err := h.svc.FindUser(h.ctx, a.id)
		if err != nil || !u.Frozen || u.FrozenReason != "auto:"+risk.RuleImpossibleTravel {
			t.Fatalf("after impossible travel: %v %+v", err, u)
		}
		if h.alive(home.Token) || h.alive(a.token) {
			t.Fatal("other sessions survived the freeze")
		}
		if !h.alive(tokyo.Token) {
			t.Fatal("the sign-in that tripped the rule did not complete (read-only)")
		}
		wantCode(t, h.svc.CanMoveMoneyOut(h.ctx, nil, a.id), identity.EAccountFrozen)
		d := h.auditDetails(a.id, audit.AuthnImpossibleTravel)
		if d["rule"] != risk.RuleImpossibleTravel || d["version"] != "1" || d["outcome"] != "freeze" ||
			d["input.from_location"] != "31.2304,121.4737" || d["input.to_location"] != "35.6762,139.6503" || d["input.speed_kmh"] == "" {
			t.Fatalf("decision record %v", d)
		}
		if n := h.audited(a.id, audit.AccountFrozen, ""); n != 1 {
			t.Fatalf("%d account_frozen events", n)
		}
		frozen := h.messages(a.email, identity.NoteFrozen)
		if len(frozen) != 1 || len(h.messages(a.phone, identity.NoteFrozen)) != 1 {
			t.Fatalf("frozen notices: %v", kinds(h.mailbox.List()))
		}
		// Replaying the sign-ins of the audit log through the rules gives
		// the same decision (RSK-07).
		var events []risk.Event
		rows, err := db.Read.QueryContext(h.ctx, `SELECT at, details FROM audit_log WHERE subject = $1 AND event = $2 ORDER BY seq`, userRefOf(a.id), audit.AuthnLoginSuccess)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var at int64
			var raw string
			var det map[string]string
			rows.Scan(&at, &raw)
			json.Unmarshal([]byte(raw), &det)
			ev := risk.Event{At: time.UnixMicro(at).UTC(), Kind: risk.LoginSuccess, UserID: a.id, DeviceID: "dev-1"}
			if det["lat"] != "" {
				ev.Lat, ev.Lon, ev.HasLocation = mustFloat(t, det["lat"]), mustFloat(t, det["lon"]), true
			}
			events = append(events, ev)
		}
		rows.Close()
		ds := risk.Replay(risk.Context{}, events)
		if len(ds) != 1 || ds[0].RuleID != risk.RuleImpossibleTravel || ds[0].Inputs["speed_kmh"] != d["input.speed_kmh"] {
			t.Fatalf("replay: %+v, recorded %v", ds, d)
		}
		// A frozen account is not frozen again by the next trip.
		h.loginFrom(a, geoiptest.LondonIP)
		if n := h.audited(a.id, audit.AuthnImpossibleTravel, ""); n != 1 {
			t.Fatalf("%d travel decisions", n)
		}
		h.verifyAudit()
	})
}
