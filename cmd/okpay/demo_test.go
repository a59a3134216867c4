package main

import (
	"context"
	"encoding/base32"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/fee"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
	"github.com/okpay/okpay/wallet"
)

// runLong is runIn with a longer deadline (the demo hashes nine
// passwords).
func runLong(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"okpay"}, args...), noEnv, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

var demoSecretRE = regexp.MustCompile(`(?m)^(\S+@demo\.okpay\.test)\s.*?\s([A-Z2-7]{32})\s*$`)
var demoStaffRE = regexp.MustCompile(`(?m)^(agent|supervisor|risk|admin)\s+(\S+@demo\.okpay\.test)\s.*\s([A-Z2-7]{32})\s*$`)

func TestDemo(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dbURL := sqldbtest.URL(t, d)
			args := []string{"demo", "--database", dbURL, "--secret-key", testSecretKey}
			out, stderr, err := runLong(t, args...)
			if err != nil {
				t.Fatalf("okpay demo: %v\n%s\n%s", err, out, stderr)
			}
			for _, want := range []string{"/staff/login", "/login", demoCustomerPassword, demoStaffPassword, "otpauth://totp/", "--staff-allow-totp"} {
				if !strings.Contains(out, want) {
					t.Errorf("the instructions do not mention %q:\n%s", want, out)
				}
			}
			secrets := map[string]string{}
			for _, m := range demoSecretRE.FindAllStringSubmatch(out, -1) {
				secrets[m[1]] = m[2]
			}
			staffSecrets := map[string]string{}
			for _, m := range demoStaffRE.FindAllStringSubmatch(out, -1) {
				staffSecrets[m[2]] = m[3]
			}
			if len(staffSecrets) != 4 || secrets["li.wei@demo.okpay.test"] == "" || secrets["emma.clark@demo.okpay.test"] == "" {
				t.Fatalf("secrets printed: customers %v, staff %v\n%s", secrets, staffSecrets, out)
			}

			// A second run changes nothing and says why.
			if _, _, err := runLong(t, args...); err == nil || !strings.Contains(err.Error(), "already holds the demo") {
				t.Errorf("second okpay demo: %v, want a refusal", err)
			}

			// The ledger's and the audit log's invariants hold.
			for _, cmd := range [][]string{{"ledger", "verify"}, {"audit", "verify"}} {
				if out, stderr, err := runLong(t, append(cmd, "--database", dbURL)...); err != nil {
					t.Errorf("okpay %s: %v\n%s\n%s", cmd, err, out, stderr)
				}
			}
			checkDemoData(t, dbURL, secrets, staffSecrets)

			// A database with a customer of its own is refused.
			db, err := sqldb.Open(context.Background(), dbURL, sqldb.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Write.ExecContext(context.Background(), `UPDATE users SET email = 'someone@example.com' WHERE email = 'zhang.min@demo.okpay.test'`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if _, _, err := runLong(t, args...); err == nil || !strings.Contains(err.Error(), "only fills a fresh database") {
				t.Errorf("okpay demo on a database with other customers: %v, want a refusal", err)
			}
		})
	}
}

// checkDemoData signs the customers and the staff in with what the demo
// printed, and checks balances and conversations.
func checkDemoData(t *testing.T, dbURL string, secrets, staffSecrets map[string]string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dbURL, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := clock.System{}
	idgen, _ := ids.NewSnowflake(7, clk.Now)
	catalog, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	idf := identityFlags{secretKey: testSecretKey, dev: "on"}
	svc, _, hasher, err := newIdentityService(db, clk, idgen, catalog, &idf, "localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	m := identity.Meta{IP: "127.0.0.9", UserAgent: "demo test", Lang: i18n.En}
	users := map[string]int64{}
	for _, c := range demoCustomers() {
		res, err := svc.Login(ctx, c.email(), demoCustomerPassword, m)
		if err != nil {
			t.Fatalf("sign in as %s: %v", c.email(), err)
		}
		users[c.key] = res.Session.UserID
		if c.totp {
			key, _ := b32.DecodeString(secrets[c.email()])
			res, err = svc.VerifyFactor(ctx, res.Token, identity.MethodTOTP, otp.TOTPCode(key, time.Now()), m)
			if err != nil || res.Session.AAL < identity.AAL2 {
				t.Errorf("second factor of %s with the printed secret: %v", c.email(), err)
			}
		} else if !slices.Contains(res.Methods, identity.MethodSMS) {
			t.Errorf("%s: no SMS code offered at sign-in (methods %v)", c.email(), res.Methods)
		}
	}
	// Balances: funding, transfers (no fee) and the exchange.
	want := map[string]map[string]string{
		"li.wei":       {"CNY": "7568.88", "USD": "560.00"},
		"wang.fang":    {"CNY": "12631.12", "HKD": "3000.00"},
		"zhang.min":    {"CNY": "1500.00"},
		"emma.clark":   {"USD": "2207.50"},
		"james.miller": {"USD": "932.50", "GBP": "400.00"},
	}
	led, err := ledger.New(ctx, db, ledger.Options{Clock: clk, IDs: idgen})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	w, err := wallet.New(ctx, wallet.Deps{DB: db, Ledger: led, Identity: svc, Fees: walletFees{fee.Default()}, Catalog: catalog, Clock: clk, IDs: idgen}, wallet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for key, cur := range want {
		ws, err := w.Wallets(ctx, users[key])
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, wl := range ws {
			got[string(wl.Currency)] = wl.Posted.String()
		}
		for c, v := range cur {
			if got[c] != v {
				t.Errorf("%s's %s balance: %s, want %s (all: %v)", key, c, got[c], v, got)
			}
		}
	}

	// A withdrawal in flight: 王芳's, waiting for review, holding its
	// amount (what the customer panel and the assistant show).
	wp, err := w.FindTransactions(ctx, users["wang.fang"], wallet.Filter{Type: wallet.TypeWithdrawal, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(wp.Txns) != 1 || wp.Txns[0].Status != wallet.StatusPendingReview || wp.Txns[0].Amount != demoWithdrawalAmount {
		t.Fatalf("wang.fang's withdrawals: %+v", wp.Txns)
	}
	wdRef := wp.Txns[0].Ref()
	if ws, err := w.Wallets(ctx, users["wang.fang"]); err != nil {
		t.Fatal(err)
	} else {
		for _, wl := range ws {
			if wl.Currency == "CNY" && wl.PendingOut.Minor < demoWithdrawalAmount.Minor {
				t.Errorf("the withdrawal holds %s of CNY, want at least %s", wl.PendingOut, demoWithdrawalAmount)
			}
		}
	}

	// Staff: each signs in with the password and the printed secret (on a
	// clock a minute on, past the step used by the enrolment).
	keys, err := loadKeyring(&idf, db)
	if err != nil {
		t.Fatal(err)
	}
	bl, _ := password.NewBlocklist()
	later := clock.NewManual(time.Now().Add(time.Minute))
	staff, err := agent.New(agent.Deps{DB: db, Clock: later, IDs: idgen, Keys: keys, Hasher: hasher, CheckPassword: password.NewPolicy(bl).Check},
		agent.Config{BaseURL: "http://localhost:8080", AllowTOTP: true})
	if err != nil {
		t.Fatal(err)
	}
	am := agent.Meta{IP: "127.0.0.9", UserAgent: "demo test"}
	agents := map[agent.Role]int64{}
	for _, a := range demoAgents() {
		res, err := staff.Login(ctx, a.email(), demoStaffPassword, am)
		if err != nil {
			t.Fatalf("staff sign-in as %s: %v", a.email(), err)
		}
		key, _ := b32.DecodeString(staffSecrets[a.email()])
		res, err = staff.VerifyTOTP(ctx, res.Token, otp.TOTPCode(key, later.Now()), am)
		if err != nil {
			t.Fatalf("staff second factor of %s: %v", a.email(), err)
		}
		if !res.Agent.Has(a.role) {
			t.Errorf("%s has roles %v, want %s", a.email(), res.Agent.Roles, a.role)
		}
		agents[a.role] = res.Agent.ID
	}

	// Conversations: every one visible to staff, in several statuses and
	// categories, some unassigned, one with an internal note the customer
	// does not see.
	dk, err := desk.New(desk.Deps{DB: db, Clock: clk, IDs: idgen, Bus: realtime.NewMemory(0)}, desk.Config{})
	if err != nil {
		t.Fatal(err)
	}
	convs, err := dk.Conversations(ctx, desk.Agent(agents[agent.RoleAgent]), desk.ConversationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	statuses, cats := map[desk.Status]int{}, map[desk.Category]int{}
	unassigned, notes := 0, 0
	for _, c := range convs {
		statuses[c.Status]++
		cats[c.Category]++
		if !c.Assigned {
			unassigned++
		}
		msgs, err := dk.Messages(ctx, desk.Agent(agents[agent.RoleSupervisor]), c.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Internal {
				notes++
				pub, err := dk.Messages(ctx, desk.Customer(c.CustomerID), c.ID, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range pub {
					if p.Internal || p.Body == m.Body {
						t.Errorf("the customer sees the internal note %q", p.Body)
					}
				}
			}
		}
	}
	linked, err := dk.LinkedConversations(ctx, desk.Agent(agents[agent.RoleAgent]), desk.LinkWalletTransaction, wdRef)
	if err != nil || len(linked) != 1 {
		t.Errorf("conversations linked to the withdrawal %s: %v, %v", wdRef, linked, err)
	}
	if len(convs) < 6 || unassigned < 3 || notes != 1 || len(cats) != 4 ||
		statuses[desk.StatusOpen] < 3 || statuses[desk.StatusPending] != 1 || statuses[desk.StatusSnoozed] != 1 || statuses[desk.StatusResolved] != 1 {
		t.Errorf("conversations: %d, unassigned %d, internal notes %d, statuses %v, categories %v", len(convs), unassigned, notes, statuses, cats)
	}
}

// okpay serve --demo fills a fresh database, prints the sign-ins and
// serves it; started again on it, it serves it as it is.
func TestServeDemo(t *testing.T) {
	t.Parallel()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "okpay.db")
	args := []string{"--addr", "127.0.0.1:0", "--database", dbURL, "--log-level", "warn", "--secret-key", testSecretKey, "--demo"}
	s := startDemoServe(t, args...)
	out := s.stdout.String()
	if !strings.Contains(out, "li.wei@demo.okpay.test") || !strings.Contains(out, "supervisor@demo.okpay.test") || !strings.Contains(out, "Development mode") {
		t.Errorf("serve --demo printed:\n%s", out)
	}
	res, err := http.Get(s.url + "/staff/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/staff/login: %d", res.StatusCode)
	}
	s.stop(t)
	s = startDemoServe(t, args...)
	if out := s.stdout.String(); !strings.Contains(out, "already holds the demo data") {
		t.Errorf("serve --demo on a demo database printed:\n%s", out)
	}
	s.stop(t)
}

// startDemoServe is startInProc with a deadline for the demo's fill (nine
// password hashes, slow under the race detector on a busy machine).
func startDemoServe(t *testing.T, args ...string) *inProc {
	t.Helper()
	return startInProcWithin(t, 4*time.Minute, noEnv, args...)
}
