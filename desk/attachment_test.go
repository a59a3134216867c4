package desk_test

import (
	"bytes"
	"crypto/sha256"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/sqldb"
	"github.com/okpay/okpay/sqldb/sqldbtest"
)

func encodeImage(enc func(*bytes.Buffer, image.Image) error) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

var (
	pngBytes  = encodeImage(func(b *bytes.Buffer, i image.Image) error { return png.Encode(b, i) })
	jpegBytes = encodeImage(func(b *bytes.Buffer, i image.Image) error { return jpeg.Encode(b, i, nil) })
	gifBytes  = encodeImage(func(b *bytes.Buffer, i image.Image) error { return gif.Encode(b, i, nil) })
	webpBytes = []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00\x30\x01\x00\x9d\x01\x2a\x01\x00\x01\x00\x02\x00\x34\x25\xa4\x00\x03\x70\x00\xfe\xfb\x94\x00\x00")
	pdfBytes  = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	htmlBytes = []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>")
)

func TestValidateAttachment(t *testing.T) {
	const max = 1 << 20
	ok := []struct {
		in   desk.AttachmentInput
		name string
		typ  string
	}{
		{desk.AttachmentInput{Name: "shot.png", ContentType: "image/png", Data: pngBytes}, "shot.png", "image/png"},
		{desk.AttachmentInput{Name: "C:\\Users\\me\\Photo.JPG", ContentType: "image/jpg", Data: jpegBytes}, "Photo.JPG", "image/jpeg"},
		{desk.AttachmentInput{Name: "../../etc/a.jpeg", Data: jpegBytes}, "a.jpeg", "image/jpeg"},
		{desk.AttachmentInput{Name: "anim.gif", ContentType: "image/gif", Data: gifBytes}, "anim.gif", "image/gif"},
		{desk.AttachmentInput{Name: "pic.webp", ContentType: "image/webp", Data: webpBytes}, "pic.webp", "image/webp"},
		{desk.AttachmentInput{Name: "statement.pdf", ContentType: "application/pdf", Data: pdfBytes}, "statement.pdf", "application/pdf"},
		{desk.AttachmentInput{Name: "log.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("转账失败 error 502\n")}, "log.txt", "text/plain"},
		{desk.AttachmentInput{Name: "x\u202Egpj.txt", ContentType: "text/plain", Data: []byte("hi")}, "xgpj.txt", "text/plain"},
	}
	for _, c := range ok {
		got, err := desk.ValidateAttachment(c.in, max)
		if err != nil {
			t.Errorf("%s: %v", c.in.Name, err)
			continue
		}
		if got.Name != c.name || got.ContentType != c.typ {
			t.Errorf("%s: got %q %q, want %q %q", c.in.Name, got.Name, got.ContentType, c.name, c.typ)
		}
	}
	refused := []desk.AttachmentInput{
		{Name: "invoice.png", ContentType: "image/png", Data: htmlBytes},         // HTML posing as a PNG
		{Name: "invoice.png", Data: htmlBytes},                                   // same, no declared type
		{Name: "notes.txt", ContentType: "text/plain", Data: htmlBytes},          // HTML posing as text
		{Name: "page.html", ContentType: "text/html", Data: htmlBytes},           // not on the list
		{Name: "logo.svg", ContentType: "image/svg+xml", Data: []byte("<svg/>")}, // scriptable
		{Name: "shot.png", ContentType: "image/jpeg", Data: pngBytes},            // type and name disagree
		{Name: "shot.jpg", ContentType: "image/jpeg", Data: pngBytes},            // content disagrees
		{Name: "shot.png", ContentType: "image/png", Data: nil},                  // empty
		{Name: "shot.png", ContentType: "image/png", Data: append(pngBytes, make([]byte, max)...)},
		{Name: ".png", ContentType: "image/png", Data: pngBytes},                                   // no name
		{Name: "program.exe", ContentType: "application/octet-stream", Data: []byte("MZ\x90\x00")}, // not on the list
		{Name: "a.txt", ContentType: "text/plain", Data: []byte("ok so far \xff\xfe")},             // not UTF-8
		{Name: "a.txt", ContentType: "text/plain; charset=utf-16", Data: []byte("hi")},
		{Name: "a.txt", ContentType: "text/plain", Data: append([]byte(strings.Repeat("a", 600)), 0)},
		{Name: "a.pdf", ContentType: "application/pdf;;", Data: pdfBytes},
	}
	for _, in := range refused {
		_, err := desk.ValidateAttachment(in, max)
		if okpay.ErrorCode(err) != desk.EAttachmentRefused {
			t.Errorf("%s (%s, %d bytes): %v, want refused", in.Name, in.ContentType, len(in.Data), err)
		}
	}
	long := strings.Repeat("长", 150) + ".png"
	got, err := desk.ValidateAttachment(desk.AttachmentInput{Name: long, Data: pngBytes}, max)
	if err != nil || len(got.Name) > 200 || !strings.HasSuffix(got.Name, ".png") || !utf8.ValidString(got.Name) {
		t.Errorf("long name: %q %v", got.Name, err)
	}
}

// Attachments are stored with their message and read back by whoever may
// see the message.
func TestAttachmentsStored(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		h := newHarness(t, db)
		c := h.start(desk.Customer(alice), desk.CategoryTransaction, "see receipt")
		m, err := h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Attachments: []desk.AttachmentInput{
			{Name: "receipt.pdf", ContentType: "application/pdf", Data: pdfBytes},
			{Name: "screen.png", ContentType: "image/png", Data: pngBytes},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Attachments) != 2 || m.Body != "" {
			t.Fatalf("message %+v", m)
		}
		ms := h.messages(desk.Agent(agentA), c.ID)
		if got := ms[1].Attachments; len(got) != 2 || got[0].Name != "receipt.pdf" || got[1].ContentType != "image/png" || got[1].Size != int64(len(pngBytes)) {
			t.Fatalf("listed attachments %+v", got)
		}
		a, data, err := h.svc.Attachment(h.ctx, desk.Customer(alice), m.Attachments[1].ID)
		sum := sha256.Sum256(pngBytes)
		if err != nil || !bytes.Equal(data, pngBytes) || !bytes.Equal(a.SHA256, sum[:]) {
			t.Fatalf("read back: %v", err)
		}
		_, err = h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Body: "look",
			Attachments: []desk.AttachmentInput{{Name: "invoice.png", ContentType: "image/png", Data: htmlBytes}}})
		wantCode(t, err, desk.EAttachmentRefused)
		six := make([]desk.AttachmentInput, 6)
		for i := range six {
			six[i] = desk.AttachmentInput{Name: "a.png", Data: pngBytes}
		}
		_, err = h.svc.SendMessage(h.ctx, desk.Customer(alice), c.ID, desk.MessageInput{Attachments: six})
		wantCode(t, err, okpay.EInvalid)
		_, _, err = h.svc.Attachment(h.ctx, desk.Customer(alice), 987654321)
		wantCode(t, err, okpay.ENotFound)
	})
}

// FuzzValidateAttachment: whatever comes in, an accepted file is on the
// allowlist, its bytes sniff as its type, its name is clean and ends in an
// extension of that type; nothing panics.
func FuzzValidateAttachment(f *testing.F) {
	f.Add("a.png", "image/png", pngBytes)
	f.Add("a.jpg", "", jpegBytes)
	f.Add("a.gif", "image/gif", gifBytes)
	f.Add("a.webp", "image/webp", webpBytes)
	f.Add("a.pdf", "application/pdf", pdfBytes)
	f.Add("a.txt", "text/plain; charset=utf-8", []byte("hello"))
	f.Add("a.png", "image/png", htmlBytes)
	f.Add("dir/../x\u202e.txt", "TEXT/PLAIN", []byte("x"))
	f.Add(strings.Repeat("é", 200)+".txt", "text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, name, typ string, data []byte) {
		got, err := desk.ValidateAttachment(desk.AttachmentInput{Name: name, ContentType: typ, Data: data}, 4096)
		if err != nil {
			if okpay.ErrorCode(err) != desk.EAttachmentRefused {
				t.Fatalf("error code %q", okpay.ErrorCode(err))
			}
			return
		}
		sniffed := http.DetectContentType(data)
		switch got.ContentType {
		case "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf":
			if sniffed != got.ContentType {
				t.Fatalf("accepted %s that sniffs as %s", got.ContentType, sniffed)
			}
		case "text/plain":
			if sniffed != "text/plain; charset=utf-8" || !utf8.Valid(data) {
				t.Fatalf("accepted text that sniffs as %s", sniffed)
			}
		default:
			t.Fatalf("accepted type %q", got.ContentType)
		}
		if len(data) == 0 || len(data) > 4096 {
			t.Fatalf("accepted %d bytes", len(data))
		}
		if got.Name == "" || len(got.Name) > 200 || !utf8.ValidString(got.Name) || strings.ContainsAny(got.Name, "/\\\n\r\t\x00\u202e") {
			t.Fatalf("accepted name %q", got.Name)
		}
		if got.Name != desk.CleanLine(got.Name) {
			t.Fatalf("name %q is not clean", got.Name)
		}
	})
}

// FuzzCleanText: cleaned text is valid UTF-8 without control or bidi
// characters (but newline and tab), trimmed, and cleaning is idempotent.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"hello", " a\r\nb ", "\x00\x1b[2J", "\u202Eexe.pdf", "\xff\xfe", "你好\t世界", "\u2066x\u2069", "\r\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := desk.CleanText(s)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		for _, r := range got {
			if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("%q kept %U", got, r)
			}
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("not trimmed: %q", got)
		}
		if again := desk.CleanText(got); again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
	})
}
