package desk_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/i18n"
	"github.com/okpay/okpay/notify"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// fakeOutbox records what is enqueued.
type fakeOutbox struct {
	mu   sync.Mutex
	msgs []notify.Message
}

func (f *fakeOutbox) Enqueue(_ context.Context, tx *sql.Tx, msgs ...notify.Message) error {
	if tx == nil {
		panic("no transaction")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, msgs...)
	return nil
}

func (f *fakeOutbox) take() []notify.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.msgs
	f.msgs = nil
	return out
}

// TestOfflineEmail: an agent's reply unread for 5 minutes is emailed once,
// in the customer's language, with an excerpt and a link; a second batch
// of replies is one more email; read replies, internal notes, visitors,
// customers without an email and customers online get none.
func TestOfflineEmail(t *testing.T) {
	t.Parallel()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		out := &fakeOutbox{}
		online := map[int64]bool{}
		var mu sync.Mutex
		contacts := map[int64]desk.Contact{
			alice: {Email: "alice@example.com", Lang: i18n.ZhCN},
			bob:   {Email: "bob@example.com", Lang: i18n.En},
		}
		m, err := desk.NewOfflineMailer(h.svc, desk.OfflineDeps{Outbox: out, Catalog: cat,
			Contact: func(_ context.Context, id int64) (desk.Contact, error) { return contacts[id], nil },
			Online: func(id int64) bool {
				mu.Lock()
				defer mu.Unlock()
				return online[id]
			}}, desk.OfflineConfig{BaseURL: "https://okpay.test/"})
		if err != nil {
			t.Fatal(err)
		}
		run := func(want int) []notify.Message {
			t.Helper()
			n, err := m.Run(h.ctx)
			if err != nil {
				t.Fatal(err)
			}
			msgs := out.take()
			if n != want || len(msgs) != want {
				t.Fatalf("run: %d sent, %d enqueued, want %d", n, len(msgs), want)
			}
			return msgs
		}

		a := h.start(desk.Customer(alice), desk.CategoryAccount, "my card")
		h.svc.MarkRead(h.ctx, desk.Customer(alice), a.ID, 1)
		h.note(desk.Agent(agentA), a.ID, "internal: check the card")
		run(0) // an internal note is nothing to the customer
		h.send(desk.Agent(agentA), a.ID, "Your card   is\nfine now.")
		h.clock.Advance(4*time.Minute + 59*time.Second)
		run(0) // not yet 5 minutes
		h.clock.Advance(time.Second)
		msgs := run(1)
		e := msgs[0]
		if e.Channel != notify.ChannelEmail || e.To != "alice@example.com" || e.UserID != alice || e.Kind != desk.NoteUnreadReply {
			t.Fatalf("email %+v", e)
		}
		link := "https://okpay.test/?chat=" + desk.ConversationRef(a.ID)
		if !strings.Contains(e.Body, "> Your card is fine now.") || !strings.Contains(e.Body, link) || !strings.Contains(e.Subject, "客服") {
			t.Fatalf("email content (zh-CN):\n%s\n%s", e.Subject, e.Body)
		}
		run(0) // never twice for the same reply
		h.clock.Advance(time.Hour)
		run(0)

		// A second batch: two replies, one email about both.
		h.send(desk.Agent(agentA), a.ID, "One more thing.")
		h.clock.Advance(time.Minute)
		h.send(desk.Agent(agentA), a.ID, "And another.")
		h.clock.Advance(4 * time.Minute)
		msgs = run(1)
		if b := msgs[0].Body; strings.Contains(b, "fine now") || !strings.Contains(b, "One more thing.") || !strings.Contains(b, "And another.") {
			t.Fatalf("second batch:\n%s", b)
		}
		if msgs[0].DedupeKey == e.DedupeKey {
			t.Fatal("same dedupe key for another batch")
		}

		// Read in time: nothing.
		h.send(desk.Agent(agentA), a.ID, "Read this one.")
		h.clock.Advance(time.Minute)
		h.svc.MarkRead(h.ctx, desk.Customer(alice), a.ID, 100)
		h.clock.Advance(10 * time.Minute)
		run(0)

		// Online: nothing while the customer follows the chat; later yes.
		b := h.start(desk.Customer(bob), desk.CategoryTechnical, "hello")
		mu.Lock()
		online[b.ID] = true
		mu.Unlock()
		h.send(desk.Agent(agentB), b.ID, "Hi Bob")
		h.clock.Advance(6 * time.Minute)
		run(0)
		mu.Lock()
		online[b.ID] = false
		mu.Unlock()
		if msgs = run(1); !strings.Contains(msgs[0].Subject, "A reply from OKPay support") {
			t.Fatalf("english subject %q", msgs[0].Subject)
		}

		// A visitor, and a customer without an email: nothing, ever.
		v := h.start(desk.Visitor(visitor), desk.CategoryAccount, "anon")
		h.send(desk.Agent(agentA), v.ID, "Hi visitor")
		nomail := h.start(desk.Customer(4242), desk.CategoryAccount, "no email")
		h.send(desk.Agent(agentA), nomail.ID, "Hi")
		h.clock.Advance(10 * time.Minute)
		run(0)
		var mark int64
		db.Read.QueryRowContext(h.ctx, `SELECT last_public_seq FROM desk_offline_mail WHERE conversation_id = $1`, nomail.ID).Scan(&mark)
		if mark != 2 {
			t.Fatalf("mark of a customer without email: %d", mark)
		}
	})
}

func TestExcerpt(t *testing.T) {
	for in, want := range map[string]string{
		"short":           "short",
		"  a \n\n b  ":    "a b",
		"abcdefghijklmno": "abcdefghi…",
		"一二三四五六七八九十十一":    "一二三四五六七八九…",
	} {
		if got := desk.Excerpt(in, 10); got != want {
			t.Errorf("Excerpt(%q) = %q, want %q", in, got, want)
		}
	}
}
