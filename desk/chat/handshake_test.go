package chat_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/desk/chat"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

// The handler gives the hijacked connection small buffers of its own:
// a client frame that arrived together with the handshake (already in
// net/http's buffer) must not be lost, and server frames larger than the
// buffers must arrive whole.
func TestFrameSentWithHandshakeAndLargeFrames(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.SQLite)
	e := newEnv(t, db, 0, chat.Config{})
	long := strings.Repeat("0123456789", 300) // 3,000 bytes: several buffers
	conv, err := e.svc.StartConversation(e.ctx, desk.Customer(alice), desk.StartInput{Category: desk.CategoryAccount, Body: long})
	if err != nil {
		t.Fatal(err)
	}

	nc, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "conversation": desk.ConversationRef(conv.ID), "after": 0})
	req := "GET / HTTP/1.1\r\nHost: " + strings.TrimPrefix(e.srv.URL, "http://") + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + fmt.Sprintf("X-Customer: %d\r\n\r\n", alice)
	// The request and the first frame in one write: the server reads
	// both into its buffer before the upgrade.
	if _, err := nc.Write(append([]byte(req), clientFrame(sub)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	var gotMessage bool
	for {
		data, err := serverFrame(br)
		if err != nil {
			t.Fatalf("reading frames (message seen: %v): %v", gotMessage, err)
		}
		var f struct {
			Type    string `json:"type"`
			Message struct {
				Body string `json:"body"`
			} `json:"message"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q: %v", data, err)
		}
		switch f.Type {
		case desk.EventMessage:
			if f.Message.Body != long {
				t.Fatalf("message body: %d bytes, want %d", len(f.Message.Body), len(long))
			}
			gotMessage = true
		case desk.EventSubscribed:
			if !gotMessage {
				t.Fatal("subscribed before the catch-up message")
			}
			return
		default:
			t.Fatalf("unexpected frame %s", data)
		}
	}
}

// clientFrame is a masked, final text frame.
func clientFrame(payload []byte) []byte {
	b := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	default:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// serverFrame reads one unmasked, final data frame.
func serverFrame(br *bufio.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 0x81 || h[1]&0x80 != 0 {
		return nil, fmt.Errorf("frame header %x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	data := make([]byte, n)
	_, err := io.ReadFull(br, data)
	return data, err
}
