// Package assistant is the chat widget's self-service assistant: it
// recognises what a customer asks (a local intent classifier,
// classify.go, trained at start-up from utterances shipped in the
// binary), answers the common questions of a wallet with the signed-in
// customer's own data (the latest withdrawal's amount, status and
// expected date, a failure's reason, the account's freeze) and the help
// center's article, greets back a greeting with what it can do, and hands
// over to a person — a support desk conversation whose first message is
// the whole exchange — when asked, or when unsure and the customer
// accepts its offer. A visitor's exchange is carried over to the customer
// who signs in in the same browser (ClaimVisitor), and turns are deleted
// after TurnRetention (Purge).
//
// It never tells a visitor who is not signed in anything of an account
// (it asks them to sign in and links the article), and it never moves
// money or changes an account: Facts has reads only.
package assistant

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/help"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/wallet"
)

// Limits.
const (
	// MaxQuestion is the longest question, in characters.
	MaxQuestion = 500
	// maxTranscriptTurns is how many of the latest turns a handover
	// copies.
	maxTranscriptTurns = 30
	// maxTranscriptRunes keeps the handover message under the desk's
	// limit (5,000 characters by default).
	maxTranscriptRunes = 4500
	// turnWindow: turns older than this are not handed over.
	turnWindow = 24 * time.Hour
	// TurnRetention is how long an exchange's turns are kept: Purge
	// deletes older ones. A turn is handed over within turnWindow or never,
	// and a handover copies it into the desk conversation, which keeps it
	// as long as the desk keeps its messages; a week more leaves time to
	// look into a complaint about an answer.
	TurnRetention = 7 * 24 * time.Hour
	// purgeBatch is how many turns one statement of Purge deletes, so a
	// large backlog does not hold the writer for long.
	purgeBatch = 1000
)

// Service is the assistant. Create it with New.
type Service struct {
	db    *sqldb.DB
	clock clock.Clock
	ids   ids.Generator
	cat   *i18n.Catalog
	help  *help.Service
	desk  *desk.Service
	facts Facts
	clf   *Classifier
}

// Config holds the Service's dependencies. Help, Desk and Facts are
// required; Classifier defaults to Default().
type Config struct {
	DB         *sqldb.DB
	Clock      clock.Clock
	IDs        ids.Generator
	Catalog    *i18n.Catalog
	Help       *help.Service
	Desk       *desk.Service
	Facts      Facts
	Classifier *Classifier
}

// New returns the assistant.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Clock == nil || cfg.IDs == nil || cfg.Catalog == nil || cfg.Help == nil || cfg.Desk == nil || cfg.Facts == nil {
		return nil, errors.New("assistant: DB, Clock, IDs, Catalog, Help, Desk and Facts are required")
	}
	if cfg.Classifier == nil {
		c, err := Default()
		if err != nil {
			return nil, err
		}
		cfg.Classifier = c
	}
	var missing []string
	for _, id := range messageIDs() {
		if !cfg.Catalog.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, errors.New("assistant: message ids missing from the catalog: " + strings.Join(missing, ", "))
	}
	return &Service{db: cfg.DB, clock: cfg.Clock, ids: cfg.IDs, cat: cfg.Catalog, help: cfg.Help, desk: cfg.Desk, facts: cfg.Facts, clf: cfg.Classifier}, nil
}

// Help is the help center the assistant links and suggests from.
func (s *Service) Help() *help.Service { return s.help }

// Classifier is the assistant's intent classifier.
func (s *Service) Classifier() *Classifier { return s.clf }

// Caller is who asks: a signed-in customer (desk.Customer) or a visitor
// (desk.Visitor), and the key their exchange is kept under ("usr_…",
// "vis_…").
type Caller struct {
	Viewer desk.Viewer
	Owner  string
}

func (c Caller) customer() bool { return c.Viewer.Kind == desk.KindCustomer && c.Viewer.ID != 0 }

// Link is a page the answer points to.
type Link struct {
	Href  string
	Label string
	// Kind is "article", "page", "sign_in", or "handover": a one-click
	// offer to hand the exchange over to a person (the widget posts to
	// Href, the handover route, instead of following it).
	Kind string
}

// Reply is the assistant's answer.
type Reply struct {
	Intent     Intent
	Confidence float64
	Text       string
	Links      []Link
	// SignIn: the answer needs the customer's data and the caller is not
	// signed in.
	SignIn bool
	// OfferHandover: the assistant was unsure and asks whether to hand
	// the exchange over to a person (a "handover" link confirms); it does
	// not hand over by itself.
	OfferHandover bool
	// Conversation is the desk conversation the exchange was handed over
	// to (nil when it was not).
	Conversation *desk.Conversation
}

// articleOf is the help article of each intent.
var articleOf = map[Intent]string{
	IntentWithdrawalStatus: "withdrawal-review",
	IntentTransferStatus:   "fees-and-limits",
	IntentDepositStatus:    "fees-and-limits",
	IntentRejectedOrFailed: "withdrawal-review",
	IntentAccountFrozen:    "account-stolen",
	IntentCannotLogin:      "cant-log-in",
	IntentChangeCard:       "change-bank-card",
	IntentExchangeCurrency: "exchange-currency",
	IntentTalkToHuman:      "contact-us",
	IntentUnknown:          "contact-us",
	IntentFeesLimits:       "fees-and-limits",
	IntentAccountSecurity:  "account-security",
}

// categoryOf is the desk category a handover of each intent goes to.
var categoryOf = map[Intent]desk.Category{
	IntentWithdrawalStatus: desk.CategoryTransaction,
	IntentTransferStatus:   desk.CategoryTransaction,
	IntentDepositStatus:    desk.CategoryTransaction,
	IntentRejectedOrFailed: desk.CategoryTransaction,
	IntentExchangeCurrency: desk.CategoryTransaction,
	IntentAccountFrozen:    desk.CategorySecurityPrivacy,
	IntentCannotLogin:      desk.CategoryAccount,
	IntentChangeCard:       desk.CategoryAccount,
	IntentBalance:          desk.CategoryTransaction,
	IntentFeesLimits:       desk.CategoryTransaction,
	IntentAccountSecurity:  desk.CategorySecurityPrivacy,
	IntentCloseAccount:     desk.CategoryAccount,
	IntentChangeContact:    desk.CategoryAccount,
	IntentRefundDispute:    desk.CategoryTransaction,
}

// ArticleSlug is the help article the assistant links for intent.
func ArticleSlug(in Intent) string { return articleOf[in] }

func messageIDs() []string {
	out := []string{"assistant.transcript.header", "assistant.transcript.customer", "assistant.transcript.assistant",
		"assistant.transcript.intent", "assistant.sign_in", "assistant.sign_in.link", "assistant.handover",
		"assistant.none.withdrawal", "assistant.none.transfer_out", "assistant.none.deposit", "assistant.none.problem",
		"assistant.open_page", "assistant.frozen", "assistant.not_frozen", "assistant.hold",
		"assistant.withdrawal.dates", "assistant.failed.reason", "assistant.widget.human", "assistant.offer_handover",
		"assistant.offer_handover.link", "assistant.transcript.visitor", "assistant.balance", "assistant.none.balance", "assistant.open_wallet", "assistant.open_account"}
	for _, in := range Intents() {
		out = append(out, "assistant.answer."+string(in))
	}
	for _, t := range []wallet.Type{wallet.TypeWithdrawal, wallet.TypeTransferOut, wallet.TypeDeposit} {
		out = append(out, "assistant.latest."+string(t))
	}
	for _, st := range wallet.Statuses {
		out = append(out, "walletui.status."+string(st)) // the wallet pages' status names
	}
	return out
}

func (s *Service) t(l i18n.Lang, id string, data map[string]any) string { return s.cat.T(l, id, data) }

// HandoverPath is the JSON API route a "handover" link posts to.
const HandoverPath = "/api/v1/assistant/handover"

// Ask answers question, written by c in lang. When the question asks for
// a person the exchange is handed over to the desk at once (category,
// when valid, else the one of the exchange's intents) and
// Reply.Conversation is the conversation. When the classifier is unsure
// it only offers to (Reply.OfferHandover, with a "handover" link the
// caller confirms with Handover); a greeting is answered with what the
// assistant can do.
func (s *Service) Ask(ctx context.Context, c Caller, question string, lang i18n.Lang, category desk.Category) (*Reply, error) {
	question = desk.CleanText(question)
	if question == "" || utf8.RuneCountInString(question) > MaxQuestion || !utf8.ValidString(question) {
		return nil, okpay.Invalid(map[string]string{"text": "Write a question of at most 500 characters."})
	}
	if c.Owner == "" || len(c.Owner) > 128 {
		return nil, okpay.Invalid(map[string]string{"caller": "Unknown caller."})
	}
	if _, ok := i18n.ParseLang(string(lang)); !ok {
		lang = i18n.Default
	}
	intent, p := s.clf.Classify(question)
	if err := s.addTurn(ctx, c.Owner, "customer", question, intent, p); err != nil {
		return nil, err
	}
	r := &Reply{Intent: intent, Confidence: p}
	if err := s.answer(ctx, c, r, lang); err != nil {
		return nil, err
	}
	if err := s.addTurn(ctx, c.Owner, "assistant", r.Text, intent, p); err != nil {
		return nil, err
	}
	if intent == IntentTalkToHuman {
		cv, err := s.Handover(ctx, c, lang, category)
		if err != nil {
			return nil, err
		}
		r.Conversation = cv
	}
	return r, nil
}

// answer fills r's text and links.
func (s *Service) answer(ctx context.Context, c Caller, r *Reply, lang i18n.Lang) error {
	var parts []string
	add := func(id string, data map[string]any) { parts = append(parts, s.t(lang, id, data)) }
	date := func(t time.Time) string {
		if lang == i18n.ZhCN {
			return t.Format("2006年1月2日")
		}
		return t.Format("2 Jan 2006")
	}
	status := func(st wallet.Status) string { return s.t(lang, "walletui.status."+string(st), nil) }
	movement := func(m *Movement) {
		data := map[string]any{"Amount": m.Amount.Format(string(lang)), "Status": status(m.Status), "Date": date(m.CreatedAt), "Ref": m.Ref}
		add("assistant.latest."+string(m.Type), data)
		if !m.EarliestAt.IsZero() && !m.LatestAt.IsZero() && m.Status != wallet.StatusCompleted && m.Status != wallet.StatusFailed &&
			m.Status != wallet.StatusRejected && m.Status != wallet.StatusReversed {
			add("assistant.withdrawal.dates", map[string]any{"Earliest": date(m.EarliestAt), "Latest": date(m.LatestAt)})
		}
		if m.Reason != "" {
			add("assistant.failed.reason", map[string]any{"Reason": m.Reason})
		}
		r.Links = append(r.Links, Link{Href: m.Href, Label: s.t(lang, "assistant.open_page", nil), Kind: "page"})
	}
	needsData := false
	switch r.Intent {
	case IntentWithdrawalStatus, IntentTransferStatus, IntentDepositStatus, IntentRejectedOrFailed, IntentAccountFrozen, IntentBalance:
		needsData = true
	}
	switch {
	case needsData && !c.customer():
		r.SignIn = true
		add("assistant.answer."+string(r.Intent), nil)
		add("assistant.sign_in", nil)
		r.Links = append(r.Links, Link{Href: "/login", Label: s.t(lang, "assistant.sign_in.link", nil), Kind: "sign_in"})
	case r.Intent == IntentWithdrawalStatus || r.Intent == IntentTransferStatus || r.Intent == IntentDepositStatus:
		t := map[Intent]wallet.Type{IntentWithdrawalStatus: wallet.TypeWithdrawal, IntentTransferStatus: wallet.TypeTransferOut,
			IntentDepositStatus: wallet.TypeDeposit}[r.Intent]
		m, err := s.facts.Latest(ctx, c.Viewer.ID, t, lang)
		if err != nil {
			return err
		}
		if m == nil {
			add("assistant.none."+string(t), nil)
		} else {
			movement(m)
		}
	case r.Intent == IntentRejectedOrFailed:
		m, err := s.facts.LatestProblem(ctx, c.Viewer.ID, lang)
		if err != nil {
			return err
		}
		if m == nil {
			add("assistant.none.problem", nil)
		} else {
			movement(m)
		}
	case r.Intent == IntentAccountFrozen:
		a, err := s.facts.Account(ctx, c.Viewer.ID)
		if err != nil {
			return err
		}
		if a.Frozen {
			add("assistant.frozen", map[string]any{"Date": date(a.FrozenAt)})
		} else {
			add("assistant.not_frozen", nil)
		}
		if !a.HoldUntil.IsZero() && a.HoldUntil.After(s.clock.Now()) {
			add("assistant.hold", map[string]any{"Date": date(a.HoldUntil)})
		}
		add("assistant.answer."+string(r.Intent), nil)
	case r.Intent == IntentBalance:
		bals, err := s.facts.Balances(ctx, c.Viewer.ID)
		if err != nil {
			return err
		}
		if len(bals) == 0 {
			add("assistant.none.balance", nil)
		} else {
			list := make([]string, len(bals))
			for i, b := range bals {
				list[i] = b.Format(string(lang))
			}
			sep := ", "
			if lang == i18n.ZhCN {
				sep = "，"
			}
			add("assistant.balance", map[string]any{"List": strings.Join(list, sep)})
		}
		r.Links = append(r.Links, Link{Href: "/wallet", Label: s.t(lang, "assistant.open_wallet", nil), Kind: "page"})
	case r.Intent == IntentTalkToHuman:
		add("assistant.answer."+string(r.Intent), nil)
		add("assistant.handover", nil)
	case r.Intent == IntentCloseAccount, r.Intent == IntentRefundDispute:
		// Only a person closes an account, or looks into money the
		// customer wants back: offer one at once.
		r.OfferHandover = true
		add("assistant.answer."+string(r.Intent), nil)
		r.Links = append(r.Links, Link{Href: HandoverPath, Label: s.t(lang, "assistant.offer_handover.link", nil), Kind: "handover"})
	case r.Intent == IntentChangeContact:
		add("assistant.answer."+string(r.Intent), nil)
		r.Links = append(r.Links, Link{Href: "/account", Label: s.t(lang, "assistant.open_account", nil), Kind: "page"})
	case r.Intent == IntentUnknown:
		r.OfferHandover = true
		add("assistant.answer."+string(r.Intent), nil)
		add("assistant.offer_handover", nil)
		r.Links = append(r.Links, Link{Href: HandoverPath, Label: s.t(lang, "assistant.offer_handover.link", nil), Kind: "handover"})
	default:
		add("assistant.answer."+string(r.Intent), nil)
	}
	if slug := articleOf[r.Intent]; slug != "" {
		a, err := s.help.Published(ctx, slug, lang)
		if err == nil {
			r.Links = append(r.Links, Link{Href: "/help/" + a.Slug, Label: a.Title, Kind: "article"})
		} else if okpay.ErrorCode(err) != okpay.ENotFound {
			return err
		}
	}
	r.Text = strings.Join(parts, " ")
	return nil
}

// Turn is one line of an exchange.
type Turn struct {
	ID         int64
	Author     string // "customer" or "assistant"
	Body       string
	Intent     Intent
	Confidence float64
	CreatedAt  time.Time
	// FromVisitor: asked (and answered) before the customer signed in
	// (ClaimVisitor).
	FromVisitor bool
}

func (s *Service) addTurn(ctx context.Context, owner, author, body string, in Intent, p float64) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO assistant_turns (id, owner, author, body, intent, confidence, conversation_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 0, $7)`, s.ids.Next(), owner, author, body, string(in), p, s.clock.Now().UTC().UnixMicro())
	if err != nil {
		return okpay.Internal(err, "store assistant turn")
	}
	return nil
}

// Pending returns owner's turns of the last day not yet handed over,
// oldest first (at most the latest 30).
func (s *Service) Pending(ctx context.Context, owner string) ([]Turn, error) {
	since := s.clock.Now().Add(-turnWindow).UTC().UnixMicro()
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, author, body, intent, confidence, created_at, from_visitor FROM assistant_turns
		WHERE owner = $1 AND conversation_id = 0 AND created_at >= $2 ORDER BY id DESC LIMIT $3`, owner, since, maxTranscriptTurns)
	if err != nil {
		return nil, okpay.Internal(err, "read assistant turns")
	}
	defer rows.Close()
	var out []Turn
	for rows.Next() {
		var t Turn
		var in string
		var at, fv int64
		if err := rows.Scan(&t.ID, &t.Author, &t.Body, &in, &t.Confidence, &at, &fv); err != nil {
			return nil, okpay.Internal(err, "read assistant turns")
		}
		t.Intent, t.CreatedAt, t.FromVisitor = Intent(in), time.UnixMicro(at).UTC(), fv != 0
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, okpay.Internal(err, "read assistant turns")
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Transcript is the text of turns as the agent reads it, in lang: a
// header, then "Customer: …" and "Assistant: …" lines, with the intent the
// assistant recognised (and, for a question asked before the customer
// signed in, a note saying so). Older turns are left out to keep it under the
// desk's message limit.
func (s *Service) Transcript(turns []Turn, lang i18n.Lang) string {
	lines := make([]string, 0, len(turns))
	for _, t := range turns {
		switch t.Author {
		case "customer":
			line := s.t(lang, "assistant.transcript.customer", map[string]any{"Text": t.Body}) + " " +
				s.t(lang, "assistant.transcript.intent", map[string]any{"Intent": string(t.Intent), "Percent": int(t.Confidence*100 + 0.5)})
			if t.FromVisitor {
				line += " " + s.t(lang, "assistant.transcript.visitor", nil)
			}
			lines = append(lines, line)
		default:
			lines = append(lines, s.t(lang, "assistant.transcript.assistant", map[string]any{"Text": t.Body}))
		}
	}
	head := s.t(lang, "assistant.transcript.header", nil)
	for {
		text := head + "\n" + strings.Join(lines, "\n")
		if utf8.RuneCountInString(text) <= maxTranscriptRunes || len(lines) <= 1 {
			if utf8.RuneCountInString(text) > maxTranscriptRunes {
				r := []rune(text)
				text = string(r[:maxTranscriptRunes])
			}
			return text
		}
		lines = lines[1:]
	}
}

// Questions is what c asked in turns, one question a line (the newest
// kept when they are too long for one message): the message the handover
// writes for them.
func Questions(turns []Turn) string {
	var lines []string
	for _, t := range turns {
		if t.Author == "customer" {
			lines = append(lines, t.Body)
		}
	}
	for len(lines) > 1 && utf8.RuneCountInString(strings.Join(lines, "\n")) > maxTranscriptRunes {
		lines = lines[1:]
	}
	text := strings.Join(lines, "\n")
	if r := []rune(text); len(r) > maxTranscriptRunes {
		text = string(r[:maxTranscriptRunes])
	}
	return text
}

// Handover gives c's exchange to a person: c's questions not yet handed
// over become one message, from c, in c's open desk conversation (not
// resolved or closed), or the first message of a new one in category
// (when valid; else the category of the exchange's last recognised
// intent, else account); the whole exchange — the assistant's answers and
// what it made of each question (intent, confidence) — follows as an
// internal note for the agents (the customer saw the answers already and
// is not shown the classifier's workings). It returns the conversation.
func (s *Service) Handover(ctx context.Context, c Caller, lang i18n.Lang, category desk.Category) (*desk.Conversation, error) {
	if c.Owner == "" {
		return nil, okpay.Invalid(map[string]string{"caller": "Unknown caller."})
	}
	if _, ok := i18n.ParseLang(string(lang)); !ok {
		lang = i18n.Default
	}
	turns, err := s.Pending(ctx, c.Owner)
	if err != nil {
		return nil, err
	}
	valid := false
	for _, dc := range desk.Categories() {
		valid = valid || dc == category
	}
	if !valid {
		category = desk.CategoryAccount
		for i := len(turns) - 1; i >= 0; i-- {
			if dc, ok := categoryOf[turns[i].Intent]; ok {
				category = dc
				break
			}
		}
	}
	body := Questions(turns)
	if body == "" {
		body = s.t(lang, "assistant.widget.human", nil) // "Talk to a person", with nothing asked before
	}
	var cv *desk.Conversation
	list, err := s.desk.Conversations(ctx, c.Viewer, desk.ConversationFilter{Status: []desk.Status{desk.StatusOpen, desk.StatusPending, desk.StatusSnoozed}, Limit: 1})
	if err != nil {
		return nil, err
	}
	key := ""
	if len(turns) > 0 {
		key = "assistant-" + ids.Format("trn", turns[len(turns)-1].ID)
	}
	if len(list) > 0 {
		cv = list[0]
		if len(turns) > 0 {
			if _, err := s.desk.SendMessage(ctx, c.Viewer, cv.ID, desk.MessageInput{Body: body, IdempotencyKey: key}); err != nil {
				return nil, err
			}
		}
	} else {
		cv, err = s.desk.StartConversation(ctx, c.Viewer, desk.StartInput{Category: category, Lang: lang, Body: body, IdempotencyKey: key})
		if err != nil {
			return nil, err
		}
	}
	if len(turns) > 0 {
		// The exchange for the agents, after the customer's message.
		if _, err := s.desk.SendMessage(ctx, desk.System, cv.ID, desk.MessageInput{Body: s.Transcript(turns, lang), Internal: true, IdempotencyKey: key + "-transcript"}); err != nil {
			return nil, err
		}
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE assistant_turns SET conversation_id = $1 WHERE owner = $2 AND conversation_id = 0 AND id <= $3`,
				cv.ID, c.Owner, turns[len(turns)-1].ID)
			return err
		})
		if err != nil {
			return nil, okpay.Internal(err, "mark turns handed over")
		}
	}
	return cv, nil
}
