package phone_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/phone"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func (h *harness) apply(ev phone.Event) bool {
	h.t.Helper()
	applied, err := h.svc.ApplyEvent(h.ctx, ev, h.clock.Now())
	if err != nil {
		h.t.Fatalf("apply %s: %v", ev.Event, err)
	}
	return applied
}

func (h *harness) call(id string) *phone.Call {
	h.t.Helper()
	c, err := h.svc.FindCall(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// TestCallFullSequence: newCall, answer, hangup from a known customer's
// number (sent in national form) make one completed call with its wait
// and talk times, matched to the customer, logged in their phone
// conversation; a replay changes nothing.
func TestCallFullSequence(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		base := phone.Event{CallID: "c-1", From: "138 0013 8000", To: "4008001234", Direction: "in", Queue: "support"}
		ev := func(kind string, at time.Duration, user, cause string) phone.Event {
			e := base
			e.ID, e.Event, e.At, e.User, e.Cause = "c-1-"+kind, kind, t0.Add(at), user, cause
			return e
		}
		h.apply(ev(phone.EventNewCall, 0, "", ""))
		if c := h.call("c-1"); c.State != phone.CallRinging || c.CustomerID != h.user || c.Number != "+8613800138000" {
			t.Fatalf("ringing: %+v", c)
		}
		h.apply(ev(phone.EventAnswer, 40*time.Second, "agent-7", ""))
		hang := ev(phone.EventHangup, 40*time.Second+3*time.Minute, "", phone.CauseNormalClearing)
		if !h.apply(hang) {
			t.Fatal("hangup not applied")
		}
		c := h.call("c-1")
		if c.State != phone.CallCompleted || c.Wait != 40*time.Second || c.Talk != 3*time.Minute || c.Agent != "agent-7" || !c.Logged ||
			c.ConversationID == 0 || c.CallbackID != 0 {
			t.Fatalf("completed: %+v", c)
		}
		ms := h.messages(c.ConversationID)
		if len(ms) != 1 || !ms[0].Internal || !strings.Contains(ms[0].Body, "waited 40 s, talked 180 s") {
			t.Fatalf("call log %+v", ms)
		}
		// A replay (same event id) is acknowledged and changes nothing,
		// even with other content.
		hang.At = hang.At.Add(time.Hour)
		if h.apply(hang) {
			t.Fatal("the replay was applied")
		}
		if c2 := h.call("c-1"); c2.Ended != c.Ended || c2.Talk != c.Talk {
			t.Fatalf("the replay changed the call: %+v", c2)
		}
		// Without event ids, callId+event+at is the key.
		noID := ev(phone.EventNewCall, time.Hour, "", "")
		noID.ID, noID.CallID = "", "c-2"
		if !h.apply(noID) || h.apply(noID) {
			t.Fatal("an event without id: applied twice or never")
		}
		if ms := h.messages(c.ConversationID); len(ms) != 1 {
			t.Fatalf("%d messages after the replays", len(ms))
		}
	})
}

// TestCallOutOfOrder: a hangup before the answer, and an answer before the
// newCall, still give the right record; a missed call becomes a callback
// task, and a late answer to it cancels that task.
func TestCallOutOfOrder(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		// hangup, answer, newCall.
		h.apply(phone.Event{ID: "1", Event: phone.EventHangup, CallID: "x", At: at(5 * time.Minute), Cause: phone.CauseNormalClearing})
		if c := h.call("x"); c.State != phone.CallCompleted || c.Talk != -1 {
			t.Fatalf("after the hangup alone: %+v", c)
		}
		h.apply(phone.Event{ID: "2", Event: phone.EventAnswer, CallID: "x", At: at(time.Minute), User: "li"})
		h.apply(phone.Event{ID: "3", Event: phone.EventNewCall, CallID: "x", At: at(0), From: "+86 138 0013 8000", Direction: "in", Queue: "vip"})
		c := h.call("x")
		if c.State != phone.CallCompleted || c.Wait != time.Minute || c.Talk != 4*time.Minute || c.CustomerID != h.user || c.Queue != "vip" ||
			!c.StartedAt.Equal(at(0)) || c.CallbackID != 0 {
			t.Fatalf("out of order: %+v", c)
		}

		// A missed call from an unknown number: a callback task, due now.
		h.apply(phone.Event{ID: "4", Event: phone.EventNewCall, CallID: "m", At: at(time.Hour), From: "+8613700137000", Direction: "in"})
		h.apply(phone.Event{ID: "5", Event: phone.EventHangup, CallID: "m", At: at(time.Hour + 90*time.Second), Cause: "cancel"})
		m := h.call("m")
		if m.State != phone.CallMissed || m.Wait != 90*time.Second || m.CallbackID == 0 || m.CustomerID != 0 {
			t.Fatalf("missed: %+v", m)
		}
		cb, err := h.svc.FindCallback(h.ctx, m.CallbackID)
		if err != nil || cb.Source != phone.SourceMissedCall || cb.Phone != "+8613700137000" || cb.State != phone.StateQueued ||
			!cb.WindowStart.Equal(at(time.Hour+90*time.Second)) {
			t.Fatalf("missed call's callback %+v %v", cb, err)
		}
		// The answer arrives late: not missed after all.
		h.apply(phone.Event{ID: "6", Event: phone.EventAnswer, CallID: "m", At: at(time.Hour + 30*time.Second)})
		if m := h.call("m"); m.State != phone.CallCompleted || m.Wait != 30*time.Second || m.Talk != time.Minute {
			t.Fatalf("after the late answer: %+v", m)
		}
		if cb, _ := h.svc.FindCallback(h.ctx, m.CallbackID); cb.State != phone.StateCancelled {
			t.Fatalf("the callback of an answered call is %s", cb.State)
		}

		// The report: per day, median and p90, missed count.
		h.apply(phone.Event{ID: "7", Event: phone.EventNewCall, CallID: "y", At: at(2 * time.Hour), From: "+8613800138000", Direction: "in"})
		h.apply(phone.Event{ID: "8", Event: phone.EventHangup, CallID: "y", At: at(2*time.Hour + 10*time.Second), Cause: "noAnswer"})
		rep, err := h.svc.Report(h.ctx, t0.Add(-24*time.Hour), t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		day := rep.Days[1]
		if len(rep.Days) != 3 || day.Calls != 3 || day.Answered != 2 || day.Missed != 1 || day.Callbacks != 2 ||
			day.Wait.Count != 2 || day.Wait.Median != 30*time.Second || day.Wait.P90 != time.Minute || day.Talk.P90 != 4*time.Minute {
			t.Fatalf("report %+v", rep.Days)
		}
		// The known customer's missed call is logged in their conversation.
		y := h.call("y")
		if !y.Logged || y.CallbackID == 0 {
			t.Fatalf("missed known call %+v", y)
		}
		if ms := h.messages(y.ConversationID); !strings.Contains(ms[len(ms)-1].Body, "missed inbound call") {
			t.Fatalf("log %q", ms[len(ms)-1].Body)
		}
	})
}

// TestDecodeEventAndSignature: the strict decoder and the signature.
func TestDecodeEventAndSignature(t *testing.T) {
	good := `{"id":"e1","event":"hangup","callId":"c","from":"+8613800138000","direction":"in","cause":"cancel","at":"2026-11-25T08:00:00Z"}`
	if ev, err := phone.DecodeEvent([]byte(good)); err != nil || ev.Event != phone.EventHangup || !ev.At.Equal(t0) {
		t.Fatalf("decode: %+v %v", ev, err)
	}
	for name, body := range map[string]string{
		"unknown event": `{"event":"ring","callId":"c"}`,
		"no call id":    `{"event":"answer"}`,
		"unknown field": `{"event":"answer","callId":"c","pan":"4111111111111111"}`,
		"two objects":   `{"event":"answer","callId":"c"}{}`,
		"direction":     `{"event":"answer","callId":"c","direction":"sideways"}`,
		"control char":  `{"event":"answer","callId":"c\u0000"}`,
		"not json":      `event=answer`,
	} {
		if _, err := phone.DecodeEvent([]byte(body)); !errors.Is(err, phone.ErrBadEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
	secret := []byte("whsec_test")
	sig := phone.Sign(secret, t0, []byte(good))
	if err := phone.VerifySignature(sig, []byte(good), [][]byte{secret}, t0.Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	if phone.VerifySignature(sig, []byte(good+" "), [][]byte{secret}, t0, 0) == nil {
		t.Fatal("a changed body verified")
	}
	if phone.VerifySignature(sig, []byte(good), [][]byte{secret}, t0.Add(6*time.Minute), 0) == nil {
		t.Fatal("a stale signature verified")
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"id":"e1","event":"newCall","callId":"c","from":"+8613800138000","to":"400","direction":"in","queue":"q","user":"u","at":"2026-11-25T08:00:00Z"}`))
	f.Add([]byte(`{"event":"hangup","callId":"c","cause":"normalClearing"}`))
	f.Add([]byte(`{"event":"answer","callId":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := phone.DecodeEvent(body)
		if err != nil {
			if !errors.Is(err, phone.ErrBadEvent) {
				t.Fatalf("error %v is not ErrBadEvent", err)
			}
			return
		}
		if ev.CallID == "" || (ev.Event != phone.EventNewCall && ev.Event != phone.EventAnswer && ev.Event != phone.EventHangup) {
			t.Fatalf("accepted %+v", ev)
		}
		// What was accepted encodes and decodes to itself.
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		again, err := phone.DecodeEvent(b)
		if err != nil || again.CallID != ev.CallID || again.Event != ev.Event || !again.At.Equal(ev.At) {
			t.Fatalf("round trip %+v → %+v %v", ev, again, err)
		}
	})
}

// TestLogPendingCatchesUp: when the call-log entry cannot be written after
// the hangup's commit (here the desk's message insert fails, as a crash at
// that moment would leave it), the call stays unlogged; LogPending leaves
// it alone for a minute (its event may still be writing it), then writes
// the entry once, and running it again writes nothing more.
func TestLogPendingCatchesUp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		failing := []string{
			`CREATE TRIGGER desk_messages_fail BEFORE INSERT ON desk_messages BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
		}
		undo := []string{`DROP TRIGGER desk_messages_fail`}
		if db.Dialect == sqldb.Postgres {
			failing = []string{
				`CREATE FUNCTION desk_messages_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$`,
				`CREATE TRIGGER desk_messages_fail BEFORE INSERT ON desk_messages FOR EACH ROW EXECUTE FUNCTION desk_messages_fail()`,
			}
			undo = []string{`DROP TRIGGER desk_messages_fail ON desk_messages`, `DROP FUNCTION desk_messages_fail()`}
		}
		exec := func(qs []string) {
			for _, q := range qs {
				if _, err := db.Write.ExecContext(h.ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
		exec(failing)
		base := phone.Event{CallID: "c-9", From: "+8613800138000", To: "4008001234", Direction: "in", Queue: "support"}
		for i, kind := range []string{phone.EventNewCall, phone.EventAnswer, phone.EventHangup} {
			e := base
			e.ID, e.Event, e.At = "c-9-"+kind, kind, t0.Add(time.Duration(i)*time.Minute)
			if kind == phone.EventAnswer {
				e.User = "agent-3"
			}
			if kind == phone.EventHangup {
				e.Cause = phone.CauseNormalClearing
			}
			if !h.apply(e) {
				t.Fatalf("%s not applied", kind)
			}
		}
		if c := h.call("c-9"); c.State != phone.CallCompleted || c.Logged || c.CustomerID != h.user {
			t.Fatalf("after a failed log entry: %+v", c)
		}
		exec(undo)
		if n, err := h.svc.LogPending(h.ctx); err != nil || n != 0 {
			t.Fatalf("LogPending within the minute: %d, %v", n, err)
		}
		h.clock.Advance(phone.LogPendingAfter + time.Second)
		if n, err := h.svc.LogPending(h.ctx); err != nil || n != 1 {
			t.Fatalf("LogPending: %d, %v; want 1", n, err)
		}
		c := h.call("c-9")
		if !c.Logged || c.ConversationID == 0 {
			t.Fatalf("after LogPending: %+v", c)
		}
		if ms := h.messages(c.ConversationID); len(ms) != 1 || !ms[0].Internal || !strings.Contains(ms[0].Body, "agent-3") && !strings.Contains(ms[0].Body, "talked") {
			t.Fatalf("call log %+v", ms)
		}
		if n, err := h.svc.LogPending(h.ctx); err != nil || n != 0 {
			t.Fatalf("LogPending again: %d, %v", n, err)
		}
	})
}
