package desk_test

import (
	"context"
	"testing"
	"time"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/clock"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/realtime"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/sqldb"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	db    *sqldb.DB
	clock *clock.Manual
	bus   *realtime.Memory
	svc   *desk.Service
	ctx   context.Context
}

func newHarness(t *testing.T, db *sqldb.DB) *harness {
	t.Helper()
	h := &harness{t: t, db: db, clock: clock.NewManual(t0), bus: realtime.NewMemory(0), ctx: context.Background()}
	svc, err := desk.New(desk.Deps{DB: db, Clock: h.clock, IDs: &ids.Sequence{}, Bus: h.bus}, desk.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	return h
}

// start opens a chat conversation of v with a first message.
func (h *harness) start(v desk.Viewer, cat desk.Category, body string) *desk.Conversation {
	h.t.Helper()
	c, err := h.svc.StartConversation(h.ctx, v, desk.StartInput{Category: cat, Body: body})
	if err != nil {
		h.t.Fatalf("start conversation: %v", err)
	}
	return c
}

func (h *harness) send(v desk.Viewer, conv int64, body string) *desk.Message {
	h.t.Helper()
	m, err := h.svc.SendMessage(h.ctx, v, conv, desk.MessageInput{Body: body})
	if err != nil {
		h.t.Fatalf("send %q: %v", body, err)
	}
	return m
}

func (h *harness) note(v desk.Viewer, conv int64, body string) *desk.Message {
	h.t.Helper()
	m, err := h.svc.SendMessage(h.ctx, v, conv, desk.MessageInput{Body: body, Internal: true})
	if err != nil {
		h.t.Fatalf("note %q: %v", body, err)
	}
	return m
}

func (h *harness) messages(v desk.Viewer, conv int64) []*desk.Message {
	h.t.Helper()
	ms, err := h.svc.Messages(h.ctx, v, conv, 0, desk.MaxPage)
	if err != nil {
		h.t.Fatalf("messages: %v", err)
	}
	return ms
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := okpay.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// drain returns the events waiting on ch.
func drain(ch <-chan realtime.Event) []realtime.Event {
	var out []realtime.Event
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, e)
		default:
			return out
		}
	}
}

const (
	alice   = int64(1001) // customers' user ids
	bob     = int64(1002)
	agentA  = int64(5001) // agents' ids
	agentB  = int64(5002)
	visitor = "vis_0123456789abcdefghij"
)
