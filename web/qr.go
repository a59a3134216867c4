package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"

	qr "github.com/piglig/go-qr"
)

// qrQuiet is the blank margin around a QR code, in modules, that the
// standard (ISO/IEC 18004) asks for so scanners find its edges.
const qrQuiet = 4

// qrSVG draws text as a QR code in an inline SVG, labelled for screen
// readers: a white square with the quiet zone and one path of the dark
// modules, a rectangle per horizontal run. Inline, the authenticator
// set-up's otpauth:// address (which holds the secret) is in no URL
// (SES-10: no image route, no data: address) and leaves with nothing but
// the page itself, which is sent with Cache-Control: no-store. It returns
// "" when text does not fit in a QR code.
func qrSVG(text, label string) template.HTML {
	code, err := qr.EncodeText(text, qr.Medium)
	if err != nil {
		return ""
	}
	n := code.Size()
	side := n + 2*qrQuiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s" shape-rendering="crispEdges" data-testid="totp-qr">`, side, side, html.EscapeString(label))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, side, side)
	for y := 0; y < n; y++ {
		for x := 0; x < n; {
			if !code.Module(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < n && code.Module(x+run, y) {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+qrQuiet, y+qrQuiet, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String())
}
