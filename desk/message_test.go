package desk_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// Many goroutines write to one conversation at once — the customer,
// two agents, internal notes among them: the staff numbering is exactly
// 1..N and the customers' exactly 1..P, each message with its own
// numbers.
func TestSeqGaplessUnderConcurrency(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "hello")
		const writers, each = 24, 8
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					var v desk.Viewer
					in := desk.MessageInput{Body: fmt.Sprintf("w%d m%d", w, i)}
					switch w % 3 {
					case 0:
						v = desk.Customer(alice)
					case 1:
						v = desk.Agent(agentA)
					default:
						v, in.Internal = desk.Agent(agentB), true
					}
					if _, err := h.svc.SendMessage(h.ctx, v, c.ID, in); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		staff := h.messages(desk.System, c.ID)
		total := 1 + writers*each
		if len(staff) != total {
			t.Fatalf("%d messages, want %d", len(staff), total)
		}
		var public int64
		for i, m := range staff {
			if m.Seq != int64(i+1) {
				t.Fatalf("message %d has seq %d", i, m.Seq)
			}
			if !m.Internal {
				public++
				if m.PublicSeq != public {
					t.Fatalf("seq %d: public seq %d, want %d", m.Seq, m.PublicSeq, public)
				}
			} else if m.PublicSeq != 0 {
				t.Fatalf("internal note with public seq %d", m.PublicSeq)
			}
		}
		cust := h.messages(desk.Customer(alice), c.ID)
		if int64(len(cust)) != public {
			t.Fatalf("customer sees %d messages, want %d", len(cust), public)
		}
		for i, m := range cust {
			if m.Seq != int64(i+1) || m.Internal {
				t.Fatalf("customer message %d: seq %d internal %v", i, m.Seq, m.Internal)
			}
		}
		got, _ := h.svc.Conversation(h.ctx, desk.Customer(alice), c.ID)
		if got.LastSeq != public {
			t.Fatalf("customer's LastSeq %d, want %d", got.LastSeq, public)
		}
		got, _ = h.svc.Conversation(h.ctx, desk.System, c.ID)
		if got.LastSeq != int64(total) {
			t.Fatalf("staff LastSeq %d, want %d", got.LastSeq, total)
		}
	})
}

// The same idempotency key twice gives the same message, even when both
// sends race; another message under the same key is refused.
func TestIdempotentSend(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryTransaction, "my transfer is late")
		events, cancel := h.bus.Subscribe(desk.PublicTopic(c.ID))
		defer cancel()
		in := desk.MessageInput{Body: "any news?", IdempotencyKey: "k-7f3a"}
		first, err := h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		if first.Replayed {
			t.Fatal("first send marked replayed")
		}
		again, err := h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID || again.Seq != first.Seq || !again.Replayed {
			t.Fatalf("replay: %+v, first %+v", again, first)
		}
		if n := len(drain(events)); n != 1 {
			t.Fatalf("%d events published, want 1 (a replay publishes nothing)", n)
		}

		// Racing retries of one send.
		race := desk.MessageInput{Body: "retry storm", IdempotencyKey: "k-race"}
		var wg sync.WaitGroup
		ids := make(chan int64, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, race)
				if err != nil {
					t.Error(err)
					return
				}
				ids <- m.ID
			}()
		}
		wg.Wait()
		close(ids)
		var distinct []int64
		for id := range ids {
			if !slices.Contains(distinct, id) {
				distinct = append(distinct, id)
			}
		}
		if len(distinct) != 1 {
			t.Fatalf("racing retries made %d messages", len(distinct))
		}
		if n := len(h.messages(desk.Customer(alice), c.ID)); n != 3 {
			t.Fatalf("%d messages, want 3", n)
		}

		// The same key with another body, or by another author.
		_, err = h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: "something else", IdempotencyKey: "k-7f3a"})
		wantCode(t, err, desk.EIdempotencyReused)
		_, err = h.svc.SendMessage(h.ctx, desk.Agent(agentA), c.ID, in)
		wantCode(t, err, desk.EIdempotencyReused)

		// Starting a conversation twice with one key.
		start := desk.StartInput{Category: desk.CategoryTechnical, Body: "app crashes", IdempotencyKey: "start-1"}
		c1, err := h.svc.StartConversation(h.ctx, desk.Customer(bob), start)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := h.svc.StartConversation(h.ctx, desk.Customer(bob), start)
		if err != nil {
			t.Fatal(err)
		}
		if c1.ID != c2.ID {
			t.Fatalf("a retried start made a second conversation")
		}
		list, _ := h.svc.Conversations(h.ctx, desk.Customer(bob), desk.ConversationFilter{})
		if len(list) != 1 || len(h.messages(desk.Customer(bob), c1.ID)) != 1 {
			t.Fatalf("after a retried start: %d conversations", len(list))
		}
	})
}

// SUP: internal notes never reach a customer: not in their pages, not in
// their numbering, not their attachments, not on their topic.
func TestInternalNotesHiddenFromCustomers(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategorySecurityPrivacy, "someone logged in from abroad")
		public, cancelPub := h.bus.Subscribe(desk.PublicTopic(c.ID))
		defer cancelPub()
		staff, cancelStaff := h.bus.Subscribe(desk.StaffTopic(c.ID))
		defer cancelStaff()

		h.send(desk.Agent(agentA), c.ID, "We are looking into it.")
		secret := "SECRET-NOTE: device matches a known fraud ring"
		note, err := h.svc.SendMessage(h.ctx, desk.Agent(agentA), c.ID, desk.MessageInput{Body: secret, Internal: true,
			Attachments: []desk.AttachmentInput{{Name: "evidence.txt", ContentType: "text/plain", Data: []byte("ip list")}}})
		if err != nil {
			t.Fatal(err)
		}
		h.send(desk.Agent(agentA), c.ID, "Your account is safe now.")

		for _, v := range []desk.Viewer{desk.Customer(alice)} {
			ms := h.messages(v, c.ID)
			if len(ms) != 3 {
				t.Fatalf("customer sees %d messages, want 3", len(ms))
			}
			for i, m := range ms {
				if m.Internal || strings.Contains(m.Body, "SECRET") || m.Seq != int64(i+1) {
					t.Fatalf("customer message %d: %+v", i, m)
				}
				if m.Author == desk.KindAgent && m.AuthorID != 0 {
					t.Fatalf("customer sees the agent's id")
				}
			}
			// Paging after the last public number gives nothing, not the note.
			more, err := h.svc.Messages(h.ctx, v, c.ID, 3, 10)
			if err != nil || len(more) != 0 {
				t.Fatalf("after 3: %d messages, %v", len(more), err)
			}
		}
		if ms := h.messages(desk.Agent(agentB), c.ID); len(ms) != 4 || !ms[2].Internal || ms[2].Body != secret {
			t.Fatalf("staff view misses the note: %d messages", len(ms))
		}
		_, _, err = h.svc.Attachment(h.ctx, desk.Customer(alice), note.Attachments[0].ID)
		wantCode(t, err, okpay.ENotFound)
		if _, data, err := h.svc.Attachment(h.ctx, desk.Agent(agentB), note.Attachments[0].ID); err != nil || string(data) != "ip list" {
			t.Fatalf("staff attachment: %q, %v", data, err)
		}

		pub := drain(public)
		for _, e := range pub {
			if bytes.Contains(e.Data, []byte("SECRET")) || bytes.Contains(e.Data, []byte(`"internal"`)) || bytes.Contains(e.Data, []byte("agt_")) {
				t.Fatalf("public topic carried %s", e.Data)
			}
		}
		var seqs []int64
		for _, e := range pub {
			if e.Type == desk.EventMessage {
				seqs = append(seqs, e.Seq)
			}
		}
		if !slices.Equal(seqs, []int64{2, 3}) {
			t.Fatalf("public message events %v, want [2 3]", seqs)
		}
		found := false
		for _, e := range drain(staff) {
			found = found || bytes.Contains(e.Data, []byte("SECRET"))
		}
		if !found {
			t.Fatal("the staff topic did not carry the note")
		}

		// Customers cannot write notes.
		_, err = h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: "x", Internal: true})
		wantCode(t, err, okpay.EForbidden)

		// The customer's conversation view is redacted.
		h.svc.AddTags(h.ctx, desk.Agent(agentA), c.ID, "fraud-suspect")
		h.svc.Claim(h.ctx, agentA, c.ID)
		cv, _ := h.svc.Conversation(h.ctx, desk.Customer(alice), c.ID)
		if cv.Tags != nil || cv.AssigneeID != 0 || cv.Team != "" || cv.Priority != "" || !cv.Assigned || cv.LastSeq != 3 {
			t.Fatalf("customer view not redacted: %+v", cv)
		}
	})
}

// API-02 (BOLA): a customer or visitor never reaches another's
// conversation, by any method; the answer is "not found", not
// "forbidden".
func TestAPI02OtherCustomersConversationsAreNotFound(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "private")
		m, err := h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: "my id card",
			Attachments: []desk.AttachmentInput{{Name: "id.png", ContentType: "image/png", Data: pngBytes}}})
		if err != nil {
			t.Fatal(err)
		}
		vc := h.start(desk.Visitor(visitor), desk.CategoryTechnical, "visitor question")
		for _, v := range []desk.Viewer{desk.Customer(bob), desk.Visitor("vis_someone-else-entirely")} {
			checks := map[string]error{}
			_, checks["Conversation"] = h.svc.Conversation(h.ctx, v, c.ID)
			_, checks["Messages"] = h.svc.Messages(h.ctx, v, c.ID, 0, 10)
			_, checks["SendMessage"] = h.svc.SendMessage(h.ctx, v, c.ID, desk.MessageInput{Body: "hi"})
			_, _, checks["Attachment"] = h.svc.Attachment(h.ctx, v, m.Attachments[0].ID)
			_, checks["MarkRead"] = h.svc.MarkRead(h.ctx, v, c.ID, 1)
			_, checks["Reads"] = h.svc.Reads(h.ctx, v, c.ID)
			checks["Typing"] = h.svc.Typing(h.ctx, v, c.ID, false)
			_, checks["QueueInfo"] = h.svc.QueueInfo(h.ctx, v, c.ID)
			_, checks["SetStatus"] = h.svc.SetStatus(h.ctx, v, c.ID, desk.StatusResolved, t0)
			_, checks["Conversation(visitor's)"] = h.svc.Conversation(h.ctx, v, vc.ID)
			for name, err := range checks {
				if okpay.ErrorCode(err) != okpay.ENotFound {
					t.Errorf("%s by %+v: %v, want not_found", name, v, err)
				}
			}
			list, err := h.svc.Conversations(h.ctx, v, desk.ConversationFilter{CustomerID: alice})
			if err != nil || len(list) != 0 {
				t.Errorf("%+v lists %d conversations of others", v, len(list))
			}
		}
		// Staff-only methods refuse customers.
		_, err = h.svc.AddTags(h.ctx, desk.Customer(alice), c.ID, "x")
		wantCode(t, err, okpay.EForbidden)
		_, err = h.svc.Assign(h.ctx, desk.Customer(alice), c.ID, agentA)
		wantCode(t, err, okpay.EForbidden)
		err = h.svc.AddLink(h.ctx, desk.Customer(alice), c.ID, desk.LinkWalletTransaction, "txn_1")
		wantCode(t, err, okpay.EForbidden)
		_, err = h.svc.Conversation(h.ctx, desk.Viewer{Kind: desk.KindCustomer}, c.ID)
		wantCode(t, err, okpay.EUnauthorized)
		_, err = h.svc.Conversation(h.ctx, desk.Visitor("short"), vc.ID)
		wantCode(t, err, okpay.EUnauthorized)
	})
}

// Message bodies are cleaned and capped.
func TestMessageBody(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "hi")
		m := h.send(desk.Customer(alice), c.ID, "  line one\r\nline\x00 two\x1b[31m \u202Egnp.exe\t\xff  ")
		if want := "line one\nline two[31m gnp.exe\t\uFFFD"; m.Body != want {
			t.Fatalf("body %q, want %q", m.Body, want)
		}
		_, err := h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: " \x00\u202E "})
		wantCode(t, err, okpay.EInvalid)
		_, err = h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: strings.Repeat("长", 5001)})
		wantCode(t, err, okpay.EInvalid)
		if _, err := h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: strings.Repeat("长", 5000)}); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: "x", IdempotencyKey: "bad key"})
		wantCode(t, err, okpay.EInvalid)
	})
}

// Read receipts move forward only, are capped at the last message, and
// translate between the two numberings.
func TestReadReceipts(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "one") // staff 1, public 1
		h.note(desk.Agent(agentA), c.ID, "note")                        // staff 2
		h.send(desk.Agent(agentA), c.ID, "two")                         // staff 3, public 2
		h.note(desk.Agent(agentA), c.ID, "note 2")                      // staff 4
		public, cancel := h.bus.Subscribe(desk.PublicTopic(c.ID))
		defer cancel()
		staff, cancel2 := h.bus.Subscribe(desk.StaffTopic(c.ID))
		defer cancel2()

		got, err := h.svc.MarkRead(h.ctx, desk.Customer(alice), c.ID, 99)
		if err != nil || got != 2 {
			t.Fatalf("customer read: %d, %v (want capped at 2)", got, err)
		}
		if got, _ := h.svc.MarkRead(h.ctx, desk.Customer(alice), c.ID, 1); got != 2 {
			t.Fatalf("read moved back to %d", got)
		}
		if got, _ := h.svc.MarkRead(h.ctx, desk.Agent(agentA), c.ID, 4); got != 4 {
			t.Fatalf("agent read %d", got)
		}
		var fr struct {
			Reader   string `json:"reader"`
			ReaderID string `json:"reader_id"`
			Seq      int64  `json:"seq"`
		}
		ev := drain(staff)
		if len(ev) != 2 {
			t.Fatalf("%d staff read events, want 2 (a read that does not advance is silent)", len(ev))
		}
		json.Unmarshal(ev[0].Data, &fr)
		if fr.Reader != "customer" || fr.Seq != 3 {
			t.Fatalf("staff sees customer read %+v, want seq 3", fr)
		}
		ev = drain(public)
		fr.ReaderID = ""
		json.Unmarshal(ev[1].Data, &fr)
		if fr.Reader != "agent" || fr.Seq != 2 || fr.ReaderID != "" {
			t.Fatalf("customer sees agent read %+v, want seq 2 and no id", fr)
		}
		reads, err := h.svc.Reads(h.ctx, desk.Customer(alice), c.ID)
		if err != nil || len(reads) != 2 {
			t.Fatalf("reads: %v %v", reads, err)
		}
		for _, r := range reads {
			if r.Seq != 2 || (r.Reader == desk.KindAgent && r.ReaderID != 0) {
				t.Fatalf("customer's view of reads: %+v", r)
			}
		}
		reads, _ = h.svc.Reads(h.ctx, desk.Agent(agentB), c.ID)
		for _, r := range reads {
			if (r.Reader == desk.KindCustomer && r.Seq != 3) || (r.Reader == desk.KindAgent && (r.Seq != 4 || r.ReaderID != agentA)) {
				t.Fatalf("staff view of reads: %+v", r)
			}
		}
	})
}

// Typing is published, never stored; a customer's typing and an agent's
// internal-note typing stay on the staff topic.
func TestTyping(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryAccount, "hi")
		public, cancel := h.bus.Subscribe(desk.PublicTopic(c.ID))
		defer cancel()
		staff, cancel2 := h.bus.Subscribe(desk.StaffTopic(c.ID))
		defer cancel2()
		for _, step := range []struct {
			v        desk.Viewer
			internal bool
		}{{desk.Customer(alice), true}, {desk.Agent(agentA), true}, {desk.Agent(agentA), false}} {
			if err := h.svc.Typing(h.ctx, step.v, c.ID, step.internal); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(drain(staff)); n != 3 {
			t.Fatalf("%d typing events for staff, want 3", n)
		}
		pub := drain(public)
		if len(pub) != 1 || !bytes.Contains(pub[0].Data, []byte(`"author":"agent"`)) || bytes.Contains(pub[0].Data, []byte("agt_")) {
			t.Fatalf("public typing events: %d", len(pub))
		}
	})
}
