package chat_test

import (
	"encoding/json"
	"testing"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
)

func TestParseClientFrame(t *testing.T) {
	ref := desk.ConversationRef(42)
	ok := map[string]chat.ClientFrame{
		`{"type":"subscribe","conversation":"` + ref + `"}`:              {Type: chat.FrameSubscribe, Conversation: 42},
		`{"type":"subscribe","conversation":"` + ref + `","after":17}`:   {Type: chat.FrameSubscribe, Conversation: 42, After: 17},
		` {"type":"unsubscribe","conversation":"` + ref + `"} `:          {Type: chat.FrameUnsubscribe, Conversation: 42},
		`{"type":"typing","conversation":"` + ref + `","internal":true}`: {Type: chat.FrameTyping, Conversation: 42, Internal: true},
		`{"type":"typing","conversation":"` + ref + `","internal":null}`: {Type: chat.FrameTyping, Conversation: 42},
		`{"conversation":"` + ref + `","type":"subscribe","after":0}`:    {Type: chat.FrameSubscribe, Conversation: 42},
		`{"type":"inbox"}`:                   {Type: chat.FrameInbox},
		`{"type":"inbox","conversation":""}`: {Type: chat.FrameInbox},
	}
	for in, want := range ok {
		got, err := chat.ParseClientFrame([]byte(in))
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	bad := []string{
		``, `null`, `[]`, `"subscribe"`, `{}`,
		`{"type":"subscribe"}`,
		`{"type":"subscribe","conversation":"42"}`,
		`{"type":"subscribe","conversation":"usr_000000000001a"}`,
		`{"type":"subscribe","conversation":"` + ref + `","after":-1}`,
		`{"type":"subscribe","conversation":"` + ref + `","after":1.5}`,
		`{"type":"subscribe","conversation":"` + ref + `","after":"1"}`,
		`{"type":"subscribe","conversation":"` + ref + `","internal":true}`,
		`{"type":"unsubscribe","conversation":"` + ref + `","after":3}`,
		`{"type":"typing","conversation":"` + ref + `","after":3}`,
		`{"type":"send","conversation":"` + ref + `","body":"hi"}`,
		`{"type":"message","conversation":"` + ref + `"}`,
		`{"type":"subscribe","conversation":"` + ref + `"}{"type":"subscribe"}`,
		`{"type":"subscribe","conversation":"` + ref + `"} x`,
		`{"type":"subscribe","conversation":"` + ref + `","pad":"` + string(make([]byte, 2000)) + `"}`,
		`{"type":"inbox","conversation":"` + ref + `"}`,
		`{"type":"inbox","after":1}`,
		`{"type":"inbox","internal":false}`,
	}
	for _, in := range bad {
		if _, err := chat.ParseClientFrame([]byte(in)); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Errorf("%q: %v, want invalid", in, err)
		}
	}
}

// FuzzParseClientFrame: any input either parses into a frame of a known
// type naming a conversation (the inbox frame names none), which encodes
// back into an equivalent frame,
// or is refused with EInvalid; nothing panics.
func FuzzParseClientFrame(f *testing.F) {
	ref := desk.ConversationRef(7)
	for _, s := range []string{
		`{"type":"subscribe","conversation":"` + ref + `","after":3}`,
		`{"type":"unsubscribe","conversation":"` + ref + `"}`,
		`{"type":"typing","conversation":"` + ref + `","internal":true}`,
		`{"type":"subscribe","conversation":"cnv_zzzzzzzzzzzzz"}`,
		`{"type":"typing","conversation":"` + ref + `","after":1e400}`,
		`{"type":"subscribe","conversation":"` + ref + `","type":"typing"}`,
		"{\"type\":\"subscribe\",\"conversation\":\"\xff\"}",
		`[1,2,3]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := chat.ParseClientFrame(b)
		if err != nil {
			if okpay.ErrorCode(err) != okpay.EInvalid {
				t.Fatalf("error code %q", okpay.ErrorCode(err))
			}
			return
		}
		if len(b) > chat.MaxClientFrame {
			t.Fatalf("accepted %d bytes", len(b))
		}
		switch got.Type {
		case chat.FrameSubscribe, chat.FrameUnsubscribe, chat.FrameTyping:
		case chat.FrameInbox:
			if got != (chat.ClientFrame{Type: chat.FrameInbox}) {
				t.Fatalf("accepted %+v", got)
			}
			return
		default:
			t.Fatalf("accepted type %q", got.Type)
		}
		if got.After < 0 || (got.Type != chat.FrameSubscribe && got.After != 0) || (got.Type != chat.FrameTyping && got.Internal) {
			t.Fatalf("accepted %+v", got)
		}
		m := map[string]any{"type": got.Type, "conversation": desk.ConversationRef(got.Conversation)}
		if got.Type == chat.FrameSubscribe {
			m["after"] = got.After
		}
		if got.Type == chat.FrameTyping {
			m["internal"] = got.Internal
		}
		enc, _ := json.Marshal(m)
		again, err := chat.ParseClientFrame(enc)
		if err != nil || again != got {
			t.Fatalf("round trip of %+v: %+v %v", got, again, err)
		}
	})
}
