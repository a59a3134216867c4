package email

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/textproto"
	"strings"
	"unicode/utf8"

	message "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	mtextproto "github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Importing go-message/charset registers every golang.org/x/text charset
// with go-message. Chinese clients label GB18030 text (4-byte sequences,
// rare characters in names) as GB2312 or GBK: decode those labels as
// GB18030, their superset, instead of turning such characters into U+FFFD.
func init() {
	for _, label := range []string{"gb2312", "gbk", "x-gbk", "cp936", "euc-cn", "x-euc-cn", "csgb2312", "gb_2312-80"} {
		charset.RegisterEncoding(label, simplifiedchinese.GB18030)
	}
}

// maxDepth bounds multipart nesting.
const maxDepth = 20

// Parse reads a raw RFC 5322 message. It never panics and returns a nil
// Message only with ErrTooLarge: what is malformed but survives is listed
// in Message.Problems.
func Parse(raw []byte, lim Limits) (m *Message, err error) {
	lim = lim.withDefaults()
	if int64(len(raw)) > lim.MaxBytes {
		return nil, ErrTooLarge
	}
	m = &Message{Size: len(raw), header: textproto.MIMEHeader{}}
	p := &parser{m: m, lim: lim}
	defer func() {
		if r := recover(); r != nil {
			m.Problems = append(m.Problems, fmt.Sprintf("parser failure: %v", r))
			err = nil
		}
	}()
	p.parse(raw)
	return m, nil
}

type parser struct {
	m       *Message
	lim     Limits
	parts   int
	texts   []string
	htmls   []string
	charset string // top-level charset, to rescue raw 8-bit headers
	report  bool
}

func (p *parser) problem(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	for _, old := range p.m.Problems {
		if old == s {
			return
		}
	}
	if len(p.m.Problems) < 50 {
		p.m.Problems = append(p.m.Problems, s)
	}
}

func (p *parser) parse(raw []byte) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := mtextproto.ReadHeader(br)
	if err != nil {
		p.problem("unreadable header: %v", shortErr(err))
		if h.Len() == 0 {
			// No usable header at all: keep whatever text there is.
			p.m.Text = cleanText(toUTF8(raw))
			p.m.Visible = Visible(p.m.Text)
			return
		}
	}
	hdr := message.Header{Header: h}
	fields := hdr.Fields()
	for fields.Next() {
		p.m.header.Add(fields.Key(), fields.Value())
	}
	if _, params, err := hdr.ContentType(); err == nil {
		p.charset = params["charset"]
	}
	p.readHeader(mail.Header{Header: hdr})

	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err == io.EOF && !bytes.Contains(raw, []byte("\n\n")) && !bytes.Contains(raw, []byte("\r\n\r\n")) {
			p.problem("no body")
		}
	}
	e, err := message.New(hdr, br)
	if err != nil {
		p.entityError(err, hdr)
		if e == nil {
			return
		}
	}
	p.walk(e, 0, "")
	p.finish()
}

func (p *parser) entityError(err error, h message.Header) {
	switch {
	case message.IsUnknownCharset(err):
		_, params, _ := h.ContentType()
		p.problem("unknown charset %q", params["charset"])
	case message.IsUnknownEncoding(err):
		p.problem("unknown transfer encoding %q", h.Get("Content-Transfer-Encoding"))
	default:
		p.problem("broken part: %v", shortErr(err))
	}
}

func (p *parser) readHeader(h mail.Header) {
	m := p.m
	if id, err := h.MessageID(); err == nil {
		m.MessageID = id
	} else if v := strings.TrimSpace(h.Get("Message-Id")); v != "" {
		m.MessageID = strings.Trim(v, "<> \t")
		p.problem("bad Message-ID")
	}
	m.InReplyTo = p.idList(h, "In-Reply-To")
	m.References = p.idList(h, "References")
	if from := p.addresses(h, "From"); len(from) > 0 {
		m.From = from[0]
	} else if h.Get("From") == "" {
		p.problem("no From")
	}
	if m.From.Addr == "" && h.Get("From") != "" {
		// Unparseable From: salvage the address between angle brackets.
		raw := p.headerText(h, "From")
		if i, j := strings.LastIndexByte(raw, '<'), strings.LastIndexByte(raw, '>'); i >= 0 && j > i {
			m.From = Address{Name: strings.Trim(strings.TrimSpace(raw[:i]), `"'`), Addr: normAddr(raw[i+1 : j])}
		} else if strings.Contains(raw, "@") && !strings.ContainsAny(raw, " \t") {
			m.From = Address{Addr: normAddr(raw)}
		}
	}
	m.ReplyTo = p.addresses(h, "Reply-To")
	m.To = p.addresses(h, "To")
	m.Cc = p.addresses(h, "Cc")
	m.Subject = oneLineSpace(p.headerText(h, "Subject"))
	if h.Get("Date") != "" {
		if d, err := h.Date(); err == nil {
			m.Date = d
		} else {
			p.problem("unreadable Date")
		}
	}
}

// headerText decodes an unstructured header: RFC 2047 words, or raw 8-bit
// text in the message charset (some clients send it that way).
func (p *parser) headerText(h mail.Header, key string) string {
	raw := h.Get(key)
	if raw == "" {
		return ""
	}
	s, err := decodeWords(raw)
	if err != nil {
		p.problem("bad %s encoding: %v", key, shortErr(err))
	}
	if !utf8.ValidString(s) {
		if p.charset != "" {
			if r, err := charsetReader(p.charset, strings.NewReader(s)); err == nil {
				if b, err := io.ReadAll(r); err == nil && utf8.Valid(b) {
					return string(b)
				}
			}
		}
		p.problem("raw 8-bit %s", key)
		s = toUTF8([]byte(s))
	}
	return s
}

func decodeWords(s string) (string, error) {
	d := mime.WordDecoder{CharsetReader: charsetReader}
	out, err := d.DecodeHeader(s)
	if err != nil {
		return s, err
	}
	return out, nil
}

func (p *parser) addresses(h mail.Header, key string) []Address {
	if h.Get(key) == "" {
		return nil
	}
	list, err := h.AddressList(key)
	if err != nil {
		// Retry with the header decoded first: some clients put a raw
		// 8-bit or badly quoted name in front of the address.
		if salvaged := salvageAddresses(p.headerText(h, key)); len(salvaged) > 0 {
			p.problem("bad %s header", key)
			return salvaged
		}
		p.problem("bad %s header", key)
		return nil
	}
	out := make([]Address, 0, len(list))
	for _, a := range list {
		name := a.Name
		if strings.Contains(name, "=?") {
			// QQ Mail and 163 put encoded words inside quotes, where
			// RFC 2047 does not allow them and net/mail leaves them.
			if dec, err := decodeWords(name); err == nil {
				name = dec
			}
		}
		if !utf8.ValidString(name) {
			name = toUTF8([]byte(name))
		}
		out = append(out, Address{Name: oneLineSpace(name), Addr: normAddr(a.Address)})
	}
	return out
}

// salvageAddresses finds "name <addr>" or bare addr items split on commas.
func salvageAddresses(s string) []Address {
	var out []Address
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if i, j := strings.LastIndexByte(item, '<'), strings.LastIndexByte(item, '>'); i >= 0 && j > i {
			addr := normAddr(item[i+1 : j])
			if strings.Contains(addr, "@") {
				out = append(out, Address{Name: strings.Trim(strings.TrimSpace(item[:i]), `"' `), Addr: addr})
			}
		} else if strings.Count(item, "@") == 1 && !strings.ContainsAny(item, " \t\"") {
			out = append(out, Address{Addr: normAddr(item)})
		}
	}
	return out
}

func normAddr(a string) string {
	a = strings.TrimSpace(a)
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i+1] + strings.ToLower(a[i+1:])
	}
	return a
}

func (p *parser) idList(h mail.Header, key string) []string {
	if h.Get(key) == "" {
		return nil
	}
	ids, err := h.MsgIDList(key)
	if err == nil {
		return ids
	}
	// Lenient: take whatever sits between angle brackets.
	p.problem("bad %s header", key)
	var out []string
	raw := h.Get(key)
	for {
		i := strings.IndexByte(raw, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(raw[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(raw[i+1 : i+j]); id != "" && !strings.ContainsAny(id, " \t<") {
			out = append(out, id)
		}
		raw = raw[i+j+1:]
	}
	return out
}

// walk visits an entity. parent is the media type of the enclosing
// multipart ("" at top level).
func (p *parser) walk(e *message.Entity, depth int, parent string) {
	p.parts++
	if p.parts > p.lim.MaxParts {
		if p.parts == p.lim.MaxParts+1 {
			p.problem("too many parts (over %d): the rest was dropped", p.lim.MaxParts)
		}
		return
	}
	mediaType, params, err := e.Header.ContentType()
	if err != nil {
		if e.Header.Get("Content-Type") != "" {
			p.problem("bad Content-Type %q", truncate(e.Header.Get("Content-Type"), 60))
		}
		mediaType = strings.ToLower(strings.TrimSpace(strings.SplitN(e.Header.Get("Content-Type"), ";", 2)[0]))
		if !strings.Contains(mediaType, "/") {
			mediaType = "text/plain"
		}
	}
	if mediaType == "" {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if mediaType == "multipart/report" {
			p.report = true
		}
		if depth >= maxDepth {
			p.problem("multipart nested too deep")
			return
		}
		// Buffer the body so that a multipart whose boundary never shows
		// up can still be read as text.
		body, rerr := io.ReadAll(io.LimitReader(e.Body, p.lim.MaxBytes+1))
		if rerr != nil {
			p.problem("broken part: %v", shortErr(rerr))
		}
		n := 0
		if params == nil {
			params = map[string]string{}
		}
		if params["boundary"] == "" {
			p.problem("multipart without boundary")
		} else {
			n = p.multipart(e.Header, body, depth, mediaType)
		}
		if n == 0 {
			// A client that declared one boundary and used another: try
			// the first "--xxx" line of the body as the boundary.
			if b := guessBoundary(body); b != "" && b != params["boundary"] {
				h := e.Header.Copy()
				params["boundary"] = b
				h.SetContentType(mediaType, params)
				if n = p.multipart(h, body, depth, mediaType); n > 0 {
					p.problem("bad multipart boundary (recovered)")
					return
				}
			}
			p.problem("bad multipart boundary")
			if len(bytes.TrimSpace(body)) > 0 {
				p.texts = append(p.texts, toUTF8(body))
			}
		}
		return
	}
	p.leaf(e, mediaType, params, parent)
}

// multipart walks the parts of body and returns how many it found.
func (p *parser) multipart(h message.Header, body []byte, depth int, mediaType string) int {
	be, _ := message.New(h, bytes.NewReader(body))
	mr := be.MultipartReader()
	if mr == nil {
		return 0
	}
	n := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil && part == nil {
			if n > 0 {
				p.problem("broken multipart: %v", shortErr(err))
			}
			break
		}
		if err != nil {
			p.entityError(err, part.Header)
		}
		n++
		p.walk(part, depth+1, mediaType)
		if p.parts > p.lim.MaxParts {
			break
		}
	}
	return n
}

// guessBoundary returns the boundary of the first delimiter-looking line.
func guessBoundary(body []byte) string {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimRight(line, " \t\r")
		if len(line) > 3 && len(line) <= 72 && bytes.HasPrefix(line, []byte("--")) {
			b := strings.TrimSuffix(string(line[2:]), "--")
			if b != "" && !strings.ContainsAny(b, " \t\"") {
				return b
			}
		}
	}
	return ""
}

func (p *parser) leaf(e *message.Entity, mediaType string, params map[string]string, parent string) {
	disp, dparams, _ := e.Header.ContentDisposition()
	disp = strings.ToLower(disp)
	name := p.filename(e.Header, dparams, params)
	cid := strings.Trim(strings.TrimSpace(e.Header.Get("Content-Id")), "<>")

	isBody := (mediaType == "text/plain" || mediaType == "text/html") && disp != "attachment" && name == ""
	if isBody {
		data, ok := p.readBody(e, int64(p.lim.MaxBytes))
		text := string(data)
		if !utf8.ValidString(text) {
			if _, has := params["charset"]; !has {
				p.problem("text without charset is not UTF-8")
			} else {
				p.problem("invalid bytes in %s text", params["charset"])
			}
			text = toUTF8(data)
		}
		if !ok {
			p.problem("truncated %s part", mediaType)
		}
		if mediaType == "text/plain" {
			if strings.EqualFold(params["format"], "flowed") {
				text = unflow(text, strings.EqualFold(params["delsp"], "yes"))
			}
			p.texts = append(p.texts, text)
		} else {
			p.htmls = append(p.htmls, text)
		}
		return
	}
	if mediaType == "message/delivery-status" || mediaType == "message/disposition-notification" {
		p.report = true
	}
	if name == "" {
		name = defaultName(mediaType)
	}
	data, ok := p.readBody(e, p.lim.MaxAttachmentBytes)
	a := Attachment{Name: name, ContentType: mediaType, ContentID: cid,
		Inline: disp == "inline" || (disp == "" && cid != "" && parent == "multipart/related")}
	if !ok {
		p.problem("truncated attachment %q", name)
	}
	if int64(len(data)) > p.lim.MaxAttachmentBytes {
		p.problem("attachment %q over %d bytes was dropped", name, p.lim.MaxAttachmentBytes)
		data = nil
	}
	a.Data = data
	p.m.Attachments = append(p.m.Attachments, a)
}

// readBody reads up to max+1 bytes; ok is false when the body was broken
// (bad base64, truncated multipart).
func (p *parser) readBody(e *message.Entity, max int64) ([]byte, bool) {
	data, err := io.ReadAll(io.LimitReader(e.Body, max+1))
	if err != nil {
		return data, false
	}
	return data, true
}

func (p *parser) filename(h message.Header, dparams, ctparams map[string]string) string {
	// mime.ParseMediaType only knows UTF-8 and ASCII in RFC 2231 values
	// (and silently drops other segments): decode filename*=gbk''...
	// ourselves first.
	name := rfc2231Param(h.Get("Content-Disposition"), "filename")
	if name == "" {
		name = dparams["filename"]
	}
	if name == "" {
		name = rfc2231Param(h.Get("Content-Type"), "name")
	}
	if name == "" {
		name = ctparams["name"]
	}
	if name == "" {
		return ""
	}
	if s, err := decodeWords(name); err == nil {
		name = s
	}
	if !utf8.ValidString(name) {
		if p.charset != "" {
			if r, err := charsetReader(p.charset, strings.NewReader(name)); err == nil {
				if b, err := io.ReadAll(r); err == nil && utf8.Valid(b) {
					return cleanName(string(b))
				}
			}
		}
		name = toUTF8([]byte(name))
	}
	return cleanName(name)
}

// cleanName keeps the base name, without path or control characters.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

func defaultName(mediaType string) string {
	switch {
	case mediaType == "message/rfc822":
		return "message.eml"
	case mediaType == "message/delivery-status":
		return "delivery-status.txt"
	case mediaType == "text/rfc822-headers":
		return "message-headers.txt"
	case strings.HasPrefix(mediaType, "image/"):
		ext := strings.TrimPrefix(strings.TrimPrefix(mediaType, "image/"), "x-")
		if ext == "" || len(ext) > 10 || strings.IndexFunc(ext, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < '0' || r > '9')
		}) >= 0 {
			return "image"
		}
		return "image." + ext
	}
	return "attachment"
}

func (p *parser) finish() {
	m := p.m
	switch {
	case len(p.texts) > 0:
		m.Text = cleanText(strings.Join(p.texts, "\n"))
		if len(p.htmls) > 0 {
			m.HTML = strings.Join(p.htmls, "\n")
		}
	case len(p.htmls) > 0:
		m.HTMLOnly = true
		m.HTML = strings.Join(p.htmls, "\n")
		m.Text = cleanText(HTMLToText(m.HTML))
	}
	m.Visible = Visible(m.Text)
	m.AutoReply = p.autoReply()
}

func shortErr(err error) string {
	return truncate(err.Error(), 80)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// toUTF8 replaces invalid bytes with U+FFFD.
func toUTF8(b []byte) string {
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func oneLineSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cleanText normalises line ends, drops NULs and trailing spaces.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\u00a0")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// unflow joins format=flowed soft line breaks (RFC 3676).
func unflow(s string, delsp bool) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	var b strings.Builder
	for i, l := range lines {
		if l == "-- " { // signature separator is never flowed
			b.WriteString(l)
			b.WriteByte('\n')
			continue
		}
		if strings.HasPrefix(l, " ") {
			l = l[1:] // space-stuffing
		}
		if strings.HasSuffix(l, " ") && i < len(lines)-1 {
			if delsp {
				l = l[:len(l)-1]
			}
			b.WriteString(l)
			continue
		}
		b.WriteString(l)
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// rfc2231Param decodes name*=charset'lang'%XX and name*0*=... continuations
// from a raw header value, in any charset the charset package knows.
func rfc2231Param(header, name string) string {
	if header == "" || !strings.Contains(header, "*") {
		return ""
	}
	type seg struct {
		enc bool
		v   string
	}
	segs := map[int]seg{}
	single := ""
	singleSet := false
	for _, item := range strings.Split(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.Trim(strings.TrimSpace(v), `"`)
		switch {
		case k == name+"*":
			single, singleSet = v, true
		case strings.HasPrefix(k, name+"*"):
			rest := strings.TrimPrefix(k, name+"*")
			enc := strings.HasSuffix(rest, "*")
			rest = strings.TrimSuffix(rest, "*")
			n := 0
			if rest == "" {
				continue
			}
			for _, c := range rest {
				if c < '0' || c > '9' || n > 1000 {
					n = -1
					break
				}
				n = n*10 + int(c-'0')
			}
			if n >= 0 {
				segs[n] = seg{enc: enc, v: v}
			}
		}
	}
	var charset string
	var raw []byte
	if singleSet {
		cs, val, ok := split2231(single)
		if !ok {
			return ""
		}
		charset = cs
		raw = pctDecode(val)
	} else {
		first, ok := segs[0]
		if !ok {
			return ""
		}
		for i := 0; i < len(segs); i++ {
			s, ok := segs[i]
			if !ok {
				break
			}
			v := s.v
			if i == 0 && s.enc {
				cs, val, ok := split2231(v)
				if !ok {
					return ""
				}
				charset, v = cs, val
			}
			if s.enc {
				raw = append(raw, pctDecode(v)...)
			} else {
				raw = append(raw, v...)
			}
		}
		_ = first
	}
	if charset == "" || strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
		return string(raw)
	}
	r, err := charsetReader(charset, bytes.NewReader(raw))
	if err != nil {
		return string(raw)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return string(raw)
	}
	return string(b)
}

func split2231(v string) (charset, value string, ok bool) {
	parts := strings.SplitN(v, "'", 3)
	if len(parts) != 3 {
		return "", "", false
	}
	return parts[0], parts[2], true
}

func pctDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

var errUnknownCharset = errors.New("unknown charset")

// charsetReader decodes charset to UTF-8, treating the GB2312/GBK labels
// as GB18030 (their superset, which is what Chinese clients really send).
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch cs {
	case "utf-8", "utf8", "us-ascii", "ascii", "":
		return r, nil
	case "gb2312", "gbk", "x-gbk", "cp936", "euc-cn", "gb_2312-80", "x-euc-cn":
		cs = "gb18030"
	case "big5-hkscs", "x-big5", "cn-big5", "big-5":
		cs = "big5"
	}
	if message.CharsetReader == nil {
		return nil, errUnknownCharset
	}
	return message.CharsetReader(cs, r)
}
