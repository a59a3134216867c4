package web_test

import (
	"html"
	"image"
	"image/color"
	"regexp"
	"strconv"
	"strings"
	"testing"

	qr "github.com/piglig/go-qr"

	"github.com/okpay/okpay/web"
)

var (
	qrSVGRE  = regexp.MustCompile(`<svg class="qr"[^>]*viewBox="0 0 (\d+) (\d+)"[^>]*aria-label="([^"]*)"[^>]*data-testid="totp-qr">.*?<path fill="#000" d="([^"]*)"/></svg>`)
	qrPathRE = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
)

// scanQR reads the QR code of a page as a camera would: it draws the
// page's SVG (its viewBox, white, and the path's runs of dark modules)
// into an image, four pixels a module, and decodes that. It returns the
// code's text and its label.
func scanQR(t *testing.T, body string) (text, label string) {
	t.Helper()
	m := qrSVGRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no QR code on the page")
	}
	side, _ := strconv.Atoi(m[1])
	const scale = 4
	img := image.NewGray(image.Rect(0, 0, side*scale, side*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	runs := qrPathRE.FindAllStringSubmatch(m[4], -1)
	if len(runs) == 0 || len(qrPathRE.ReplaceAllString(m[4], "")) != 0 {
		t.Fatalf("the QR code's path is not runs of modules: %.80q", m[4])
	}
	for _, r := range runs {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		w, _ := strconv.Atoi(r[3])
		if r[3] != r[4] || x < web.QRQuiet || y < web.QRQuiet || x+w > side-web.QRQuiet || y >= side-web.QRQuiet {
			t.Fatalf("run %q is not a closed run inside the quiet zone of a %d-module square", r[0], side)
		}
		for py := y * scale; py < (y+1)*scale; py++ {
			for px := x * scale; px < (x+w)*scale; px++ {
				img.SetGray(px, py, color.Gray{})
			}
		}
	}
	got, err := qr.Decode(img)
	if err != nil {
		t.Fatalf("the page's QR code does not scan: %v", err)
	}
	return got, html.UnescapeString(m[3])
}

// TestQRSVG: what web.QRSVG draws scans back to its text (an authenticator
// address, Chinese text, a long address), carries its label escaped, and
// is empty for a text no QR code holds.
func TestQRSVG(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"otpauth://totp/OKPay:ana%40example.com?algorithm=SHA1&digits=6&issuer=OKPay&period=30&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
		"otpauth://totp/OKPay:%E6%9D%8E%E9%9B%B7%40example.cn?issuer=OKPay&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"https://okpay.example/" + strings.Repeat("a", 600),
	} {
		got, label := scanQR(t, string(web.QRSVG(text, `Scan "this" <code>`)))
		if got != text {
			t.Errorf("scanned %q, want %q", got, text)
		}
		if label != `Scan "this" <code>` {
			t.Errorf("label %q", label)
		}
	}
	if s := web.QRSVG(strings.Repeat("x", 5000), "too long"); s != "" {
		t.Errorf("a 5,000-byte text drew %d bytes of SVG, want none", len(s))
	}
}
