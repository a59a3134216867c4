package main

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/agent"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/fee"
	"github.com/okpay/okpay/fx"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/identity"
	"github.com/okpay/okpay/identity/otp"
	"github.com/okpay/okpay/identity/password"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/ledger"
	"github.com/okpay/okpay/money"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/paymethod"
	"github.com/okpay/okpay/psp/sandbox"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

// okpay demo (and okpay serve --demo) fills a fresh database with a living
// desk: verified customers in zh-CN and en (some with an authenticator
// app), wallets in several currencies funded by deposit entries in the
// ledger, P2P transfers between them (the first to a new payee confirmed
// with its SMS code, as in the app), a currency exchange at the stored
// rates, a withdrawal waiting for review (to an e-wallet payout method),
// support conversations in every status and category (unassigned
// and assigned, with replies and an internal note), and one staff account
// per role, enrolled with an authenticator app. Everything goes through
// the services the server uses, so the ledger, the audit log and the
// outbox are what real use would have left. It prints how to sign in.
//
// It refuses a database that already has customers or staff, unless they
// are all demo accounts (then it says so and changes nothing).

// demoDomain is the email domain of every demo account: a database whose
// accounts are all at it is a demo database.
const demoDomain = "demo.okpay.test"

// The demo passwords (development only: printed on purpose).
const (
	demoCustomerPassword = "amber quiet lighthouse stairs"
	demoStaffPassword    = "violet harbour lantern maple"
)

// errDemoFilled: the database already holds the demo.
var errDemoFilled = errors.New("this database already holds the demo data (okpay demo was run on it); nothing was changed")

type demoCustomer struct {
	key, name, phone string
	lang             i18n.Lang
	totp             bool
	funds            []money.Amount

	id       int64
	token    string
	session  *identity.Session
	secret   string // authenticator app (base32), if totp
	balances string
}

func (c *demoCustomer) email() string { return c.key + "@" + demoDomain }

type demoAgent struct {
	key, name string
	role      agent.Role
	teams     []string

	id          int64
	secret, uri string
}

func (a *demoAgent) email() string { return a.key + "@" + demoDomain }

// demoResult is what the demo made, for the sign-in instructions.
type demoResult struct {
	customers []*demoCustomer
	agents    []*demoAgent
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("demo", "Fill a fresh database with demo customers, balances, transactions, support conversations and one staff account per role (agent, supervisor, risk, admin), and print how to sign in as each. Development and demonstrations only: the passwords and authenticator secrets are printed. Then start the server with okpay serve --staff-allow-totp (or use okpay serve --demo, which does both).", e)
	var d dbFlags
	d.register(fs)
	var idf identityFlags
	idf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := fillDemo(ctx, d, idf)
	if err != nil {
		return err
	}
	base := idf.baseURL
	if base == "" {
		base = "http://localhost:8080"
	}
	printDemo(e.stdout, res, base)
	fmt.Fprintf(e.stdout, "\nStart the server with: okpay serve --database '%s' --staff-allow-totp\n(staff sign in with the authenticator app only where --staff-allow-totp allows it; production staff use passkeys)\n", d.url)
	return nil
}

// demoState tells whether db is fresh (no customers, no staff), already a
// demo database, or neither.
func demoState(ctx context.Context, db *sqldb.DB) (fresh, demo bool, err error) {
	var users, demoUsers, agents, demoAgents int64
	like := "%@" + demoDomain
	if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN email LIKE $1 THEN 1 ELSE 0 END), 0) FROM users`, like).Scan(&users, &demoUsers); err != nil {
		return false, false, err
	}
	if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN email LIKE $1 THEN 1 ELSE 0 END), 0) FROM agents`, like).Scan(&agents, &demoAgents); err != nil {
		return false, false, err
	}
	if users == 0 && agents == 0 {
		return true, false, nil
	}
	return false, users == demoUsers && agents == demoAgents && demoUsers > 0, nil
}

// demoCatcher is the demo's email and SMS sender: it keeps the last code
// sent to each address, by kind, to confirm the steps that ask for one.
type demoCatcher struct {
	mu    sync.Mutex
	codes map[string]string
}

func (c *demoCatcher) Send(ctx context.Context, m notify.Message) error {
	if code := p2pCodeRE.FindString(m.Body); code != "" {
		c.mu.Lock()
		c.codes[m.To+" "+m.Kind] = code
		c.mu.Unlock()
	}
	return nil
}

func (c *demoCatcher) code(to, kind string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codes[to+" "+kind]
}

func demoCustomers() []*demoCustomer {
	cny := func(v int64) money.Amount { return money.New(v, "CNY") }
	usd := func(v int64) money.Amount { return money.New(v, "USD") }
	return []*demoCustomer{
		{key: "li.wei", name: "李伟", phone: "+8613900001001", lang: i18n.ZhCN, totp: true, funds: []money.Amount{cny(8_000_00), usd(500_00)}},
		{key: "wang.fang", name: "王芳", phone: "+8613900001002", lang: i18n.ZhCN, funds: []money.Amount{cny(12_500_00), money.New(3_000_00, "HKD")}},
		{key: "zhang.min", name: "张敏", phone: "+8613900001003", lang: i18n.ZhCN, funds: []money.Amount{cny(1_200_00)}},
		{key: "emma.clark", name: "Emma Clark", phone: "+447911123401", lang: i18n.En, totp: true, funds: []money.Amount{usd(2_500_00), money.New(800_00, "EUR")}},
		{key: "james.miller", name: "James Miller", phone: "+447911123402", lang: i18n.En, funds: []money.Amount{usd(900_00), money.New(400_00, "GBP")}},
	}
}

func demoAgents() []*demoAgent {
	return []*demoAgent{
		{key: "agent", name: "Chen Jing 陈静", role: agent.RoleAgent, teams: []string{"general", "payments"}},
		{key: "supervisor", name: "Sarah Lee", role: agent.RoleSupervisor, teams: []string{"general", "payments", "security"}},
		{key: "risk", name: "Zhou Qiang 周强", role: agent.RoleRisk, teams: []string{"security"}},
		{key: "admin", name: "Alex Admin", role: agent.RoleAdmin, teams: []string{"general"}},
	}
}

// fillDemo fills the database of d (which must be fresh) and returns what
// it made. It returns errDemoFilled for a demo database, and refuses any
// other database with accounts.
func fillDemo(ctx context.Context, d dbFlags, idf identityFlags) (*demoResult, error) {
	db, err := d.open(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	fresh, demo, err := demoState(ctx, db)
	if err != nil {
		return nil, err
	}
	if demo {
		return nil, errDemoFilled
	}
	if !fresh {
		return nil, errors.New("this database already has customers or staff accounts: okpay demo only fills a fresh database (use a new --database)")
	}
	clk := clock.System{}
	idgen, err := ids.NewSnowflake(1022, clk.Now) // the server is node 0, the CLI 1023
	if err != nil {
		return nil, err
	}
	catalog, err := i18n.New()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	idf.dev = "on"
	svc, outbox, hasher, err := newIdentityService(db, clk, idgen, catalog, &idf, "localhost:8080")
	if err != nil {
		return nil, err
	}
	catcher := &demoCatcher{codes: map[string]string{}}
	disp := notify.NewDispatcher(outbox, map[string]notify.Sender{"email": catcher, "sms": catcher, "inapp": outbox.InAppSender()},
		notify.DispatcherOptions{Logger: log, Batch: 64})
	deliver := func() error {
		for {
			n, err := disp.RunOnce(ctx)
			if err != nil || n == 0 {
				return err
			}
		}
	}
	led, err := ledger.New(ctx, db, ledger.Options{Clock: clk, IDs: idgen, Logger: log})
	if err != nil {
		return nil, err
	}
	defer led.Close()
	// The built-in payment provider and the payout methods over it, as
	// serve builds them (methods.go); the demo's withdrawal goes to an
	// e-wallet added demoMethodAge ago (past its 24 h payout hold).
	sb, err := sandbox.New(sandbox.Options{DB: db, Clock: clk, IDs: idgen, Secret: svc.Keys.MAC("psp/sandbox/webhook").Sum([]byte("okpay sandbox webhook secret v1")),
		Logger: log, Catalog: catalog})
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	methods := func(c clock.Clock) (*paymethod.Service, error) {
		return paymethod.New(paymethod.Deps{DB: db, Clock: c, IDs: idgen, Provider: sb, Notifier: methodNotifier{id: svc}, Freezer: methodNotifier{id: svc},
			Sealer: svc.Keys.Sealer("paymethod/account"), MAC: svc.Keys.MAC("paymethod")})
	}
	pm, err := methods(clk)
	if err != nil {
		return nil, err
	}
	w, err := wallet.New(ctx, wallet.Deps{DB: db, Ledger: led, Identity: svc, Fees: walletFees{fee.Default()}, Provider: sb, Cards: pm,
		Catalog: catalog, Clock: clk, IDs: idgen, Logger: log}, wallet.Config{})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	res := &demoResult{customers: demoCustomers(), agents: demoAgents()}
	byKey := map[string]*demoCustomer{}
	meta := func(c *demoCustomer) identity.Meta {
		return identity.Meta{IP: "127.0.0.1", UserAgent: "okpay demo", Lang: c.lang}
	}

	// Customers: signed up and verified with the codes sent, then funded
	// by deposit entries from the outside world.
	for _, c := range res.customers {
		byKey[c.key] = c
		f, err := svc.Register(ctx, identity.RegisterInput{Email: c.email(), Phone: c.phone, Password: demoCustomerPassword, Lang: c.lang}, meta(c))
		if err != nil {
			return nil, fmt.Errorf("sign up %s: %w", c.email(), err)
		}
		if err := deliver(); err != nil {
			return nil, err
		}
		_, token, err := svc.VerifySignup(ctx, f.Token, catcher.code(c.email(), "code_verify_email"), catcher.code(c.phone, "code_verify_phone"), meta(c))
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", c.email(), err)
		}
		ss, u, err := svc.Authenticate(ctx, token)
		if err != nil {
			return nil, err
		}
		c.id, c.session, c.token = u.ID, ss, token
		for i, a := range c.funds {
			wl, err := w.OpenWallet(ctx, c.id, a.Currency)
			if err != nil {
				return nil, err
			}
			ext, err := w.SystemAccount(ctx, wallet.SysExternal+":demo", a.Currency)
			if err != nil {
				return nil, err
			}
			if _, err := led.Post(ctx, ledger.EntryInput{Reference: fmt.Sprintf("demo-fund-%s-%d", c.key, i), Type: "deposit",
				Postings: []ledger.Posting{{Debit: ext, Credit: wl.ID, Amount: a.Minor, Currency: a.Currency}}}); err != nil {
				return nil, fmt.Errorf("fund %s: %w", c.email(), err)
			}
		}
	}

	// P2P transfers (before the authenticator apps, so that each first
	// payment to a new payee is confirmed with the SMS code it sends).
	txns := map[string]string{}
	for i, t := range []struct {
		from, to string
		amount   money.Amount
		note     string
	}{
		{"li.wei", "wang.fang", money.New(520_00, "CNY"), "晚饭 AA"},
		{"wang.fang", "li.wei", money.New(88_88, "CNY"), "红包"},
		{"wang.fang", "zhang.min", money.New(300_00, "CNY"), "房租分摊"},
		{"emma.clark", "james.miller", money.New(45_00, "USD"), "Concert tickets"},
		{"james.miller", "emma.clark", money.New(12_50, "USD"), "Coffee"},
		{"emma.clark", "li.wei", money.New(60_00, "USD"), "Tea set from Hangzhou"},
	} {
		from, to := byKey[t.from], byKey[t.to]
		r, err := w.Transfer(ctx, wallet.TransferInput{UserID: from.id, Amount: t.amount, PayeeKind: wallet.PayeeEmail, Payee: to.email(),
			Note: t.note, Key: fmt.Sprintf("demo-p2p-%d", i), Meta: meta(from)})
		if err != nil {
			return nil, fmt.Errorf("transfer %s → %s: %w", t.from, t.to, err)
		}
		if r.Txn.Status == wallet.StatusAwaitingAuth {
			if err := deliver(); err != nil {
				return nil, err
			}
			cr, err := w.ConfirmTransfer(ctx, wallet.ConfirmInput{UserID: from.id, TxnID: r.Txn.ID, Code: catcher.code(from.phone, "code_txn"), Meta: meta(from)})
			if err != nil {
				return nil, fmt.Errorf("confirm transfer %s → %s: %w", t.from, t.to, err)
			}
			r.Txn = cr.Txn
		}
		if r.Txn.Status != wallet.StatusCompleted {
			return nil, fmt.Errorf("transfer %s → %s: status %s", t.from, t.to, r.Txn.Status)
		}
		txns[t.from+">"+t.to] = r.Txn.Ref()
	}

	// A currency exchange at the stored rates (the sample rates when none
	// are stored, as serve's development mode does).
	rates, err := fx.New(db, clk, idgen, fx.Config{})
	if err != nil {
		return nil, err
	}
	if _, err := rates.SeedSample(ctx); err != nil {
		return nil, err
	}
	x, err := wallet.NewExchanger(ctx, w, rates)
	if err != nil {
		return nil, err
	}
	emma := byKey["emma.clark"]
	q, err := x.QuoteExchange(ctx, emma.id, "USD", "EUR", money.New(200_00, "USD"), fx.SideSell)
	if err != nil {
		return nil, fmt.Errorf("exchange quote: %w", err)
	}
	xr, err := x.Exchange(ctx, wallet.ExchangeInput{UserID: emma.id, QuoteID: q.ID, Key: "demo-exchange-1", Meta: meta(emma)})
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	txns["exchange"] = xr.Txn.Ref()

	// A withdrawal in flight: 王芳 sends CNY 500 to her Alipay account
	// (added demoMethodAge ago). To a method that new, it waits for a risk
	// reviewer (pending_review), so the
	// agent console's customer panel and the assistant's "where is my
	// withdrawal?" have one to show, with its expected dates.
	wdRef, err := demoWithdrawal(ctx, db, w, pm, methods, svc, byKey["wang.fang"], meta(byKey["wang.fang"]), deliver, catcher)
	if err != nil {
		return nil, err
	}
	txns["withdrawal"] = wdRef

	// Authenticator apps for some customers, confirmed with the previous
	// step's code so the current one is left for their first sign-in.
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	for _, c := range res.customers {
		if !c.totp {
			continue
		}
		setup, err := svc.BeginTOTP(ctx, c.session)
		if err != nil {
			return nil, fmt.Errorf("authenticator app of %s: %w", c.email(), err)
		}
		key, err := b32.DecodeString(setup.Secret)
		if err != nil {
			return nil, err
		}
		prev := time.Now().Add(-otp.TOTPPeriod * time.Second)
		err = svc.ConfirmTOTP(ctx, c.session, otp.TOTPCode(key, prev), meta(c))
		if okpay.ErrorCode(err) == identity.EInvalidCode {
			prev = time.Now().Add(-otp.TOTPPeriod * time.Second)
			err = svc.ConfirmTOTP(ctx, c.session, otp.TOTPCode(key, prev), meta(c))
		}
		if err != nil {
			return nil, fmt.Errorf("confirm the authenticator app of %s: %w", c.email(), err)
		}
		c.secret = setup.Secret
	}
	// The set-up's sessions end: the customers sign in themselves.
	for _, c := range res.customers {
		if err := svc.Logout(ctx, c.token, meta(c)); err != nil {
			return nil, err
		}
	}
	if err := deliver(); err != nil {
		return nil, err
	}
	for _, c := range res.customers {
		ws, err := w.Wallets(ctx, c.id)
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, wl := range ws {
			parts = append(parts, string(wl.Currency)+" "+wl.Posted.String())
		}
		c.balances = strings.Join(parts, ", ")
	}

	// Staff: one account per role, enrolled with an authenticator app
	// through their enrolment link, as the enrolment page does.
	keys, err := loadKeyring(&idf, db)
	if err != nil {
		return nil, err
	}
	bl, err := password.NewBlocklist()
	if err != nil {
		return nil, err
	}
	staff, err := agent.New(agent.Deps{DB: db, Clock: clk, IDs: idgen, Keys: keys, Hasher: hasher, CheckPassword: password.NewPolicy(bl).Check},
		agent.Config{BaseURL: "http://localhost:8080", AllowTOTP: true})
	if err != nil {
		return nil, err
	}
	by := agent.Actor{System: "cli:okpay demo"}
	am := agent.Meta{IP: "127.0.0.1", UserAgent: "okpay demo"}
	for _, a := range res.agents {
		made, enr, err := staff.Create(ctx, by, agent.NewAgent{Email: a.email(), DisplayName: a.name, Roles: []agent.Role{a.role}, Teams: a.teams,
			Languages: []i18n.Lang{i18n.ZhCN, i18n.En}, Reason: "okpay demo"}, am)
		if err != nil {
			return nil, fmt.Errorf("staff account %s: %w", a.email(), err)
		}
		a.id = made.ID
		es, err := staff.StartEnrollment(ctx, enr.Token, demoStaffPassword, am)
		if err != nil {
			return nil, fmt.Errorf("enrol %s: %w", a.email(), err)
		}
		setup, err := staff.BeginTOTPEnrollment(ctx, es.Token)
		if err != nil {
			return nil, fmt.Errorf("enrol %s: %w", a.email(), err)
		}
		key, err := b32.DecodeString(setup.Secret)
		if err != nil {
			return nil, err
		}
		if _, err := staff.ConfirmTOTPEnrollment(ctx, es.Token, otp.TOTPCode(key, time.Now()), am); err != nil {
			return nil, fmt.Errorf("enrol %s: %w", a.email(), err)
		}
		a.secret, a.uri = setup.Secret, setup.URI
	}
	agentID := map[string]int64{}
	for _, a := range res.agents {
		agentID[a.key] = a.id
	}

	// Conversations in every category and status.
	dk, err := desk.New(desk.Deps{DB: db, Clock: clk, IDs: idgen, Bus: realtime.NewMemory(0), Logger: log}, desk.Config{})
	if err != nil {
		return nil, err
	}
	type step func(id int64) error
	reply := func(by string, body string, internal bool) step {
		return func(id int64) error {
			_, err := dk.SendMessage(ctx, desk.Agent(agentID[by]), id, desk.MessageInput{Body: body, Internal: internal})
			return err
		}
	}
	customerSays := func(c, body string) step {
		return func(id int64) error {
			_, err := dk.SendMessage(ctx, desk.Customer(byKey[c].id), id, desk.MessageInput{Body: body})
			return err
		}
	}
	assign := func(by, to string) step {
		return func(id int64) error {
			_, err := dk.Assign(ctx, desk.Agent(agentID[by]), id, agentID[to])
			return err
		}
	}
	status := func(by string, st desk.Status, until time.Time) step {
		return func(id int64) error {
			_, err := dk.SetStatus(ctx, desk.Agent(agentID[by]), id, st, until)
			return err
		}
	}
	link := func(by, txn string) step {
		return func(id int64) error {
			return dk.AddLink(ctx, desk.Agent(agentID[by]), id, desk.LinkWalletTransaction, txns[txn])
		}
	}
	for i, cv := range []struct {
		customer string
		cat      desk.Category
		subject  string
		body     string
		steps    []step
	}{
		// Unassigned, open: the queue.
		{"zhang.min", desk.CategoryTransaction, "收到的房租分摊", "王芳转给我的300元显示已完成，但我想确认一下是否可以退回？", nil},
		{"james.miller", desk.CategoryAccount, "Raising my limits", "Hi, how do I verify my identity to raise my monthly limit?", nil},
		{"li.wei", desk.CategoryTechnical, "App 登录问题", "换了新手机以后，验证器里的验证码总是提示错误。", nil},
		// Assigned, waiting for the customer.
		{"wang.fang", desk.CategorySecurityPrivacy, "陌生登录提醒", "我收到一条新设备登录的提醒，但那不是我。", []step{
			assign("supervisor", "agent"),
			reply("agent", "您好，我们已经注意到这次登录。为安全起见，请先在“安全”页面退出所有其他设备，并修改密码。", false),
			reply("supervisor", "登录IP与客户常用地区不符，已通知风控同事 @risk 关注。", true),
			status("agent", desk.StatusPending, time.Time{}),
		}},
		// Assigned, linked to the transfer it is about, snoozed.
		{"emma.clark", desk.CategoryTransaction, "Transfer to Li Wei", "I sent 60 USD to Li Wei for a tea set. Can you confirm it arrived?", []step{
			assign("supervisor", "supervisor"),
			link("supervisor", "emma.clark>li.wei"),
			reply("supervisor", "Hi Emma, the transfer completed and is in Li Wei's USD wallet. I'll check back tomorrow in case anything else comes up.", false),
			status("supervisor", desk.StatusSnoozed, time.Now().Add(24*time.Hour)),
		}},
		// About the withdrawal under review, linked to it, unassigned.
		{"wang.fang", desk.CategoryTransaction, "提现什么时候到账？", "我提现了500元到支付宝，显示正在审核，请问什么时候能到账？", []step{
			link("supervisor", "withdrawal"),
		}},
		// Resolved.
		{"james.miller", desk.CategoryTechnical, "Statement download", "The CSV export of my transactions is empty on the web app.", []step{
			assign("supervisor", "agent"),
			reply("agent", "Thanks James — please choose a date range first; the export covers the range shown. Does that work?", false),
			customerSays("james.miller", "That worked, thank you!"),
			status("agent", desk.StatusResolved, time.Time{}),
		}},
	} {
		c := byKey[cv.customer]
		conv, err := dk.StartConversation(ctx, desk.Customer(c.id), desk.StartInput{Category: cv.cat, Subject: cv.subject, Body: cv.body, Lang: c.lang,
			IdempotencyKey: fmt.Sprintf("demo-conversation-%d", i)})
		if err != nil {
			return nil, fmt.Errorf("conversation of %s: %w", c.email(), err)
		}
		for j, s := range cv.steps {
			if err := s(conv.ID); err != nil {
				return nil, fmt.Errorf("conversation %d of %s, step %d: %w", i, c.email(), j, err)
			}
		}
	}
	if err := deliver(); err != nil {
		return nil, err
	}
	return res, nil
}

// demoMethodAge is how long ago the demo's payout method was added and
// verified: past its payout hold (24 h), still "new" for the review rules
// (7 days).
const demoMethodAge = 3 * 24 * time.Hour

// demoWithdrawalAmount is the demo's withdrawal: within what a device
// not yet known may send in a day (the demo has no devices), and waiting
// for review as the method is new.
var demoWithdrawalAmount = money.New(500_00, "CNY")

// demoPast is the system clock set back by d.
type demoPast struct{ d time.Duration }

func (p demoPast) Now() time.Time { return time.Now().Add(-p.d) }

// demoWithdrawal adds c an Alipay account verified demoMethodAge ago
// (through the payment methods on a clock set back, with the code the
// sandbox shows the account's owner) and makes a withdrawal to it,
// confirmed with the SMS code sent, which waits for review. It returns
// the withdrawal's reference.
func demoWithdrawal(ctx context.Context, db *sqldb.DB, w *wallet.Service, pm *paymethod.Service, methods func(clock.Clock) (*paymethod.Service, error),
	svc *identity.Service, c *demoCustomer, m identity.Meta, deliver func() error, catcher *demoCatcher) (string, error) {
	past := demoPast{demoMethodAge}
	then, err := methods(past)
	if err != nil {
		return "", err
	}
	meth, err := then.AddEWallet(ctx, paymethod.NewEWallet{UserID: c.id, Provider: "alipay", Account: c.email(), StepUp: past.Now()})
	if err != nil {
		return "", fmt.Errorf("payout method of %s: %w", c.email(), err)
	}
	var code string
	if err := db.Read.QueryRowContext(ctx, `SELECT code FROM psp_sandbox_ewallet_codes WHERE reference = (SELECT reference FROM payment_methods WHERE id = $1)`,
		meth.ID).Scan(&code); err != nil {
		return "", fmt.Errorf("payout method of %s: the sandbox's code: %w", c.email(), err)
	}
	if meth, err = then.ConfirmEWalletCode(ctx, c.id, meth.ID, code); err != nil {
		return "", fmt.Errorf("payout method of %s: %w", c.email(), err)
	}
	if meth.Status != paymethod.StatusVerified {
		return "", fmt.Errorf("payout method of %s: %s", c.email(), meth.Status)
	}
	wd, err := wallet.NewWithdrawals(w, wallet.WithdrawalDeps{Methods: pm, Customers: svc}, wallet.WithdrawalConfig{})
	if err != nil {
		return "", err
	}
	r, err := wd.Create(ctx, wallet.WithdrawalInput{UserID: c.id, MethodID: meth.ID, Amount: demoWithdrawalAmount, Key: "demo-withdrawal-1", Meta: m})
	if err != nil {
		return "", fmt.Errorf("withdrawal of %s: %w", c.email(), err)
	}
	if err := deliver(); err != nil {
		return "", err
	}
	got, err := wd.Confirm(ctx, wallet.ConfirmInput{UserID: c.id, TxnID: r.Withdrawal.Txn.ID, Code: catcher.code(c.phone, "code_txn"), Meta: m})
	if err != nil {
		return "", fmt.Errorf("confirm the withdrawal of %s: %w", c.email(), err)
	}
	if got.Txn.Status != wallet.StatusPendingReview {
		return "", fmt.Errorf("withdrawal of %s: status %s, want %s", c.email(), got.Txn.Status, wallet.StatusPendingReview)
	}
	return got.Txn.Ref(), deliver()
}

// printDemo prints how to sign in as each customer and staff role.
func printDemo(w io.Writer, res *demoResult, base string) {
	fmt.Fprintf(w, "OKPay demo data created (development and demonstrations only).\n\n")
	fmt.Fprintf(w, "Customers sign in at %s/login with the password %q.\n", base, demoCustomerPassword)
	fmt.Fprintf(w, "Their second factor: the authenticator-app code where a secret is shown (add it to any TOTP app), otherwise the SMS code, which development mode shows at %s/dev/mailbox.\n\n", base)
	var tw textTable
	tw.row("EMAIL", "NAME", "LANG", "BALANCES", "AUTHENTICATOR SECRET")
	for _, c := range res.customers {
		secret := "— (SMS code)"
		if c.secret != "" {
			secret = c.secret
		}
		tw.row(c.email(), c.name, string(c.lang), c.balances, secret)
	}
	tw.write(w)
	fmt.Fprintf(w, "\nStaff sign in at %s/staff/login with the password %q and the authenticator-app code of their secret:\n\n", base, demoStaffPassword)
	var ta textTable
	ta.row("ROLE", "EMAIL", "NAME", "TEAMS", "AUTHENTICATOR SECRET")
	for _, a := range res.agents {
		ta.row(string(a.role), a.email(), a.name, strings.Join(a.teams, ","), a.secret)
	}
	ta.write(w)
	fmt.Fprintln(w, "\notpauth URIs (for a QR code generator):")
	for _, a := range res.agents {
		fmt.Fprintf(w, "  %-10s %s\n", a.role, a.uri)
	}
}

// serveDemo is the demo step of okpay serve --demo: it fills the database
// (or finds it already filled), prints how to sign in, and makes the
// server a demonstration one: development mode, staff TOTP allowed.
func serveDemo(ctx context.Context, e *env, c *serveConfig) error {
	if c.identity.dev == "auto" {
		c.identity.dev = "on"
	}
	c.agents.allowTOTP = true
	base := c.identity.baseURL
	if base == "" {
		base = "http://" + c.addr
	}
	res, err := fillDemo(ctx, c.db, c.identity)
	switch {
	case errors.Is(err, errDemoFilled):
		fmt.Fprintf(e.stdout, "The database already holds the demo data: serving it as it is. Customers sign in at %s/login with the password %q, staff at %s/staff/login with %q and the authenticator secrets printed when it was filled.\n\n",
			base, demoCustomerPassword, base, demoStaffPassword)
		return nil
	case err != nil:
		return err
	}
	printDemo(e.stdout, res, base)
	fmt.Fprintln(e.stdout)
	return nil
}
