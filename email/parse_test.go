package email

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type wantAttachment struct {
	name, contentType string
	size              int
	inline            bool
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file        string
		messageID   string
		inReplyTo   []string
		references  []string
		subject     string
		from        Address
		date        string // RFC 3339, "" for zero
		textHas     []string
		textLacks   []string
		visible     string
		htmlOnly    bool
		attachments []wantAttachment
		autoReply   string
		problems    []string // substrings, in order; nil: none
	}{
		{
			file:       "gmail.eml",
			messageID:  "CAF8kQ2x+3vT9Lq_7y4PZc9bS1mJ0aR5e@mail.gmail.com",
			inReplyTo:  []string{"okp.9c2f1e7a3b@okpay.example"},
			references: []string{"okp.9c2f1e7a3b@okpay.example"},
			subject:    "Re: 提现未到账",
			from:       Address{"张伟", "Zhang.Wei@gmail.com"},
			date:       "2026-11-21T17:02:03+08:00",
			textHas:    []string{"订单号 W-2026-1120", "> 您好，您的提现申请已提交"},
			visible:    "您好，我昨天的提现还没有到账，订单号 W-2026-1120。\n请帮忙查一下，谢谢！",
		},
		{
			file:        "outlook.eml",
			messageID:   "AM9PR02MB70001A2B3C4D5E6F708192A3B4C5D@AM9PR02MB7000.eurprd02.prod.outlook.com",
			inReplyTo:   []string{"4f2a.1042@okpay.example"},
			references:  []string{"4f2a.1042@okpay.example"},
			subject:     "RE: Your top-up request [#1042] – statement",
			from:        Address{"John Smith", "john.smith@contoso.com"},
			date:        "2026-11-21T09:15:42Z",
			textHas:     []string{"Sent: Thursday, November 20, 2026"},
			visible:     "Hello,\n\nPlease find attached the bank statement you asked for. The transfer was made on 18 November.\n\nBest regards,\nJohn Smith\nFinance | Contoso Ltd.",
			attachments: []wantAttachment{{"statement-2026-11.pdf", "application/pdf", 42, false}},
		},
		{
			file:    "outlook_original.eml",
			subject: "RE: Password reset [#1043]",
			from:    Address{"Maria Garcia", "maria.garcia@outlook.com"},
			date:    "2026-11-20T08:01:00+01:00",
			textHas: []string{"-----Original Message-----", "we have reset your password."},
			visible: "Hi,\nI still cannot log in after resetting my password.\n\nThanks\nMaria",
		},
		{
			file:        "apple_mail.eml",
			inReplyTo:   []string{"okp.app.5003@okpay.example"},
			subject:     "Re: App shows error 5003",
			from:        Address{"Emily Chen", "emily.chen@icloud.com"},
			textHas:     []string{"Sent from my iPhone", "> Could you send us a screenshot?"},
			visible:     "I attached a screenshot of the error.",
			attachments: []wantAttachment{{"IMG_0042.PNG", "image/png", 44, true}},
		},
		{
			file:    "apple_mail_zh.eml",
			subject: "回复：登录问题",
			from:    Address{"刘洋", "liuyang@icloud.com"},
			textHas: []string{"发自我的iPhone", "写道："},
			visible: "好的，我明天再试一下。",
		},
		{
			file:        "thunderbird.eml",
			references:  []string{"okp.card.31@okpay.example", "okp.card.32@okpay.example"},
			subject:     "Re: Double charge",
			from:        Address{"Lukas Weber", "lukas@weber-consulting.de"},
			textHas:     []string{"see the attached statement.", "Lukas Weber\nWeber Consulting GmbH"}, // format=flowed joined
			visible:     "Hello,\n\nmy card payment of 25.00 EUR was charged twice, see the attached statement. Could you refund one of them?",
			attachments: []wantAttachment{{"Kontoauszug März.pdf", "application/pdf", 13, false}},
		},
		{
			file:      "foxmail_gbk.eml",
			messageID: "tencent_3F6A2B1C9D8E7F6A5B4C3D2E@qq.com",
			subject:   "回复：账户冻结通知",
			from:      Address{"王芳", "2834567190@qq.com"},
			textHas:   []string{"------------------ 原始邮件 ------------------", "发送时间: 2026年11月20日"},
			visible:   "你好，\n\n我的账户被冻结了，附件是身份证照片，请尽快处理。",
			attachments: []wantAttachment{
				{"身份证正面.jpg", "image/jpeg", 19, false}, // RFC 2047 word in a quoted parameter (QQ Mail)
				{"身份证反面.jpg", "image/jpeg", 21, false}, // RFC 2231 filename*=gbk''...
			},
		},
		{
			file:       "netease163.eml",
			inReplyTo:  []string{"okp.transfer.12@okpay.example"},
			references: []string{"okp.transfer.11@okpay.example", "okp.transfer.12@okpay.example"},
			subject:    "Re:Re: 转账对方未收到",
			from:       Address{"周𫖯", "zhoubin@163.com"}, // GB18030 4-byte character
			date:       "2026-11-21T09:30:00+08:00",
			textHas:    []string{"写道：", ">您好，请提供转账时间和金额。"},
			// labelled GB2312, really GB18030: the 4-byte 𫖯 must survive
			visible: "您好：\n我是周𫖯，转账给朋友显示成功但对方没收到，金额 500.00 元。",
		},
		{
			file:    "big5.eml",
			subject: "回覆: 綁定銀行卡失敗",
			from:    Address{"陳大文", "TaiMan.Chan@yahoo.com.hk"},
			textHas: []string{"寄件者: OKPay 客服", "請提供錯誤截圖。"},
			visible: "您好，\n\n我在香港無法綁定銀行卡，系統顯示「卡號無效」。\n\n陳大文",
		},
		{
			file:      "html_only.eml",
			subject:   "Refund request",
			from:      Address{"Ana Souza", "ana@shop.example"},
			htmlOnly:  true,
			textLacks: []string{"alert", "color:red", "hidden title", "tracking pixel", "<"},
			visible: "Refund request\n\nHello team,\nI paid twice for order A-77.\n\n- first payment: 10:00\n- second payment: 10:01\n\n" +
				"See my order (https://shop.example/orders/A-77) or https://shop.example/help.\n\nAmount 12.50 EUR\n\nThanks\nAna",
		},
		{
			file:      "autoreply_outlook.eml",
			subject:   "Automatic reply: Your top-up request [#1042]",
			from:      Address{"John Smith", "john.smith@contoso.com"},
			visible:   "I am out of the office until 1 December with limited access to email.",
			autoReply: "auto-submitted",
		},
		{
			file:      "autoreply_precedence.eml",
			subject:   "自动回复：您的工单已更新",
			from:      Address{"李娜", "lina@163.com"},
			visible:   "您好，我正在休假，11月30日后回复您。",
			autoReply: "precedence",
		},
		{
			file:      "autoreply_x.eml",
			subject:   "Re: Settlement report",
			from:      Address{"Service", "service@partner.example"},
			visible:   "Thank you for your mail. We will answer within two business days.",
			autoReply: "x-autoreply",
		},
		{
			file:    "bounce.eml",
			subject: "Undelivered Mail Returned to Sender",
			from:    Address{"Mail Delivery System", "MAILER-DAEMON@mx.okpay.example"},
			textHas: []string{"Recipient address rejected: User unknown"},
			visible: "This is the mail system at host mx.okpay.example.\n\nI'm sorry to have to inform you that your message could not\n" +
				"be delivered to one or more recipients.\n\n<nobody@nowhere.example>: host mx.nowhere.example[192.0.2.1] said: 550 5.1.1\n" +
				"    <nobody@nowhere.example>: Recipient address rejected: User unknown",
			attachments: []wantAttachment{
				{"delivery-status.txt", "message/delivery-status", 220, false},
				{"message-headers.txt", "text/rfc822-headers", 142, false},
			},
			autoReply: "mailer-daemon",
		},
		{
			file:     "bad_boundary.eml",
			subject:  "broken boundary",
			from:     Address{"Bad Boundary", "bad@boundary.example"},
			visible:  "My payment failed three times.",
			problems: []string{"bad multipart boundary (recovered)"},
		},
		{
			file:     "unknown_charset.eml",
			subject:  "=?x-klingon?Q?tlhIngan?= Hol",
			from:     Address{"Unknown Charset", "who@charset.example"},
			visible:  "Please close my account.",
			problems: []string{"bad Subject encoding", `unknown charset "x-klingon"`},
		},
		{
			file:        "truncated.eml",
			subject:     "truncated upload",
			from:        Address{"Truncated", "cut@truncated.example"},
			visible:     "Here is my passport scan.",
			attachments: []wantAttachment{{"passport.pdf", "application/pdf", 69, false}},
			problems:    []string{`truncated attachment "passport.pdf"`, "broken multipart"},
		},
		{
			file:     "header_only.eml",
			subject:  "header only",
			from:     Address{"Header Only", "only@header.example"},
			date:     "2026-11-21T10:00:00Z",
			visible:  "",
			problems: []string{"no body"},
		},
		{
			file:     "binary_junk.eml",
			problems: []string{"unreadable header"},
		},
	}
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d fixtures in testdata, %d in the table", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(raw, Limits{})
			if err != nil || m == nil {
				t.Fatalf("Parse: %v, %v", m, err)
			}
			if m.Size != len(raw) {
				t.Errorf("Size = %d, want %d", m.Size, len(raw))
			}
			if tt.messageID != "" && m.MessageID != tt.messageID {
				t.Errorf("MessageID = %q, want %q", m.MessageID, tt.messageID)
			}
			if tt.inReplyTo != nil && !slices.Equal(m.InReplyTo, tt.inReplyTo) {
				t.Errorf("InReplyTo = %q, want %q", m.InReplyTo, tt.inReplyTo)
			}
			if tt.references != nil && !slices.Equal(m.References, tt.references) {
				t.Errorf("References = %q, want %q", m.References, tt.references)
			}
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			if m.From != tt.from {
				t.Errorf("From = %+v, want %+v", m.From, tt.from)
			}
			if tt.date != "" {
				want, _ := time.Parse(time.RFC3339, tt.date)
				if !m.Date.Equal(want) {
					t.Errorf("Date = %v, want %v", m.Date, want)
				}
			}
			for _, s := range tt.textHas {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text lacks %q:\n%s", s, m.Text)
				}
			}
			for _, s := range tt.textLacks {
				if strings.Contains(m.Text, s) {
					t.Errorf("Text has %q:\n%s", s, m.Text)
				}
			}
			if tt.file != "binary_junk.eml" && m.Visible != tt.visible {
				t.Errorf("Visible =\n%q\nwant\n%q", m.Visible, tt.visible)
			}
			if m.HTMLOnly != tt.htmlOnly {
				t.Errorf("HTMLOnly = %v", m.HTMLOnly)
			}
			if len(m.Attachments) != len(tt.attachments) {
				t.Errorf("%d attachments, want %d: %+v", len(m.Attachments), len(tt.attachments), m.Attachments)
			} else {
				for i, a := range m.Attachments {
					w := tt.attachments[i]
					if a.Name != w.name || a.ContentType != w.contentType || len(a.Data) != w.size || a.Inline != w.inline {
						t.Errorf("attachment %d = %q %q %d inline=%v, want %+v", i, a.Name, a.ContentType, len(a.Data), a.Inline, w)
					}
				}
			}
			if m.AutoReply != tt.autoReply {
				t.Errorf("AutoReply = %q, want %q", m.AutoReply, tt.autoReply)
			}
			if len(m.Problems) != len(tt.problems) {
				t.Errorf("Problems = %q, want %q", m.Problems, tt.problems)
			} else {
				for i, p := range tt.problems {
					if !strings.Contains(m.Problems[i], p) {
						t.Errorf("Problems[%d] = %q, want it to contain %q", i, m.Problems[i], p)
					}
				}
			}
			if strings.ContainsAny(m.Text, "\r\x00") || !utfValid(m.Text) || !utfValid(m.Subject) {
				t.Errorf("Text or Subject not clean UTF-8 with LF line ends: %q", m.Text)
			}
		})
	}
}

func utfValid(s string) bool { return strings.ToValidUTF8(s, "") == s }

func TestParseHeaderAccess(t *testing.T) {
	raw, _ := os.ReadFile("testdata/autoreply_outlook.eml")
	m, _ := Parse(raw, Limits{})
	if got := m.Get("x-auto-response-suppress"); got != "All" {
		t.Errorf("Get = %q", got)
	}
	if got := m.Get("X-Nope"); got != "" {
		t.Errorf("Get absent = %q", got)
	}
	var nilMsg *Message
	if nilMsg.Get("From") != "" {
		t.Error("nil message Get")
	}
}

func TestParseLimits(t *testing.T) {
	raw, _ := os.ReadFile("testdata/outlook.eml")
	if m, err := Parse(raw, Limits{MaxBytes: int64(len(raw) - 1)}); !errors.Is(err, ErrTooLarge) || m != nil {
		t.Errorf("over MaxBytes: %v, %v", m, err)
	}
	if _, err := Parse(raw, Limits{MaxBytes: int64(len(raw))}); err != nil {
		t.Errorf("at MaxBytes: %v", err)
	}
	// The 42-byte PDF is over a 10-byte attachment limit: dropped, noted.
	m, err := Parse(raw, Limits{MaxAttachmentBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Data != nil || m.Attachments[0].Name != "statement-2026-11.pdf" {
		t.Errorf("attachments = %+v", m.Attachments)
	}
	if len(m.Problems) != 1 || !strings.Contains(m.Problems[0], "over 10 bytes") {
		t.Errorf("problems = %q", m.Problems)
	}
	// Parts: mixed, alternative, text, html, pdf = 5.
	m, _ = Parse(raw, Limits{MaxParts: 3})
	if len(m.Attachments) != 0 || !strings.Contains(strings.Join(m.Problems, ";"), "too many parts") {
		t.Errorf("MaxParts 3: %+v %q", m.Attachments, m.Problems)
	}
	if !strings.Contains(m.Text, "bank statement") {
		t.Errorf("text before the limit lost: %q", m.Text)
	}
	m, _ = Parse(raw, Limits{MaxParts: 5})
	if len(m.Attachments) != 1 || len(m.Problems) != 0 {
		t.Errorf("MaxParts 5: %+v %q", m.Attachments, m.Problems)
	}
}

func TestParseDeepNesting(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.example\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 1; i < 40; i++ {
		b.WriteString("--b" + itoa(i-1) + "\r\nContent-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n")
	}
	b.WriteString("--b39\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n")
	m, err := Parse([]byte(b.String()), Limits{})
	if err != nil || m == nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(m.Problems, ";"), "nested too deep") {
		t.Errorf("problems = %q", m.Problems)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestParseAttachmentFilenames(t *testing.T) {
	// RFC 2231 continuations with a GB18030 charset, RFC 2047 in name=,
	// and a path that must be cut to its base name.
	raw := "From: x@y.example\r\nSubject: files\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=zz\r\n\r\n" +
		"--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee files\r\n" +
		"--zz\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n" +
		" filename*0*=gb18030''%D5%CB%B5%A5;\r\n filename*1=\".csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\nYQ==\r\n" +
		"--zz\r\nContent-Type: image/png; name=\"=?big5?B?uc+k+S5wbmc=?=\"\r\nContent-ID: <img1@x>\r\nContent-Transfer-Encoding: base64\r\n\r\nYg==\r\n" +
		"--zz\r\nContent-Type: text/plain; name=\"..\\\\..\\\\evil.txt\"\r\nContent-Disposition: attachment\r\n\r\nc\r\n" +
		"--zz--\r\n"
	m, _ := Parse([]byte(raw), Limits{})
	var names []string
	for _, a := range m.Attachments {
		names = append(names, a.Name)
	}
	want := []string{"账单.csv", "圖片.png", "evil.txt"}
	if !slices.Equal(names, want) {
		t.Errorf("names = %q, want %q (problems %q)", names, want, m.Problems)
	}
	if len(m.Attachments) == 3 && (m.Attachments[1].ContentID != "img1@x" || m.Attachments[1].Inline) {
		t.Errorf("image: %+v", m.Attachments[1])
	}
	if m.Text != "see files" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestNormalizeSubject(t *testing.T) {
	for in, want := range map[string]string{
		"Re: 提现未到账":                "提现未到账",
		"RE: Re: FW: Fwd: hello":   "hello",
		"回复：转发: 账户冻结":              "账户冻结",
		"答复: 回覆： 綁定":               "綁定",
		"Antw: AW: WG: Rechnung":   "Rechnung",
		"Re[2]: RE(3): loop":       "loop",
		"[EXTERNAL] RE: statement": "statement",
		"  Re:Re:  spaced   out  ": "spaced out",
		"Rebate offer":             "Rebate offer",
		"Fwdx: not a prefix":       "Fwdx: not a prefix",
		"Regarding: your account":  "Regarding: your account",
		"":                         "",
		"Re:":                      "",
	} {
		if got := NormalizeSubject(in); got != want {
			t.Errorf("NormalizeSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewMessageID(t *testing.T) {
	a := NewMessageID("OKPay.Example", nil)
	b := NewMessageID("okpay.example", nil)
	if a == b {
		t.Error("ids repeat")
	}
	local, domain, ok := strings.Cut(a, "@")
	if !ok || domain != "okpay.example" || len(local) != 26 || strings.ContainsAny(a, "<> ") {
		t.Errorf("id = %q", a)
	}
	// deterministic with a given reader
	zero := strings.NewReader(strings.Repeat("\x00", 16))
	if got := NewMessageID("x.example", zero); got != strings.Repeat("a", 26)+"@x.example" {
		t.Errorf("id from zeros = %q", got)
	}
	if got := NewMessageID("bad domain<>", nil); !strings.HasSuffix(got, "@localhost") {
		t.Errorf("bad domain id = %q", got)
	}
}

func TestParseRelatedInlineImage(t *testing.T) {
	// Gmail-style: related(alternative(text, html), image with Content-ID).
	raw := "From: a@b.example\r\nSubject: pic\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=r\r\n\r\n" +
		"--r\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n" +
		"--a\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nsee [image: shot.png]\r\n" +
		"--a\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<div>see <img src=\"cid:ii_1\" alt=\"shot.png\"></div>\r\n--a--\r\n" +
		"--r\r\nContent-Type: image/png; name=\"shot.png\"\r\nContent-ID: <ii_1>\r\nX-Attachment-Id: ii_1\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n"
	m, _ := Parse([]byte(raw), Limits{})
	if len(m.Attachments) != 1 {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	a := m.Attachments[0]
	if !a.Inline || a.ContentID != "ii_1" || a.Name != "shot.png" || len(a.Data) != 8 {
		t.Errorf("inline image %+v", a)
	}
	if m.Text != "see [image: shot.png]" || m.HTMLOnly || !strings.Contains(m.HTML, "cid:ii_1") {
		t.Errorf("text %q html %q", m.Text, m.HTML)
	}
}

func TestParseUndeclaredCharsetAndRawHeaders(t *testing.T) {
	// An old client: 8-bit GBK in the Subject and body, charset only on the
	// Content-Type; the raw subject is decoded with the body's charset.
	subj := "\xd5\xcb\xbb\xa7\xce\xca\xcc\xe2" // 账户问题 in GBK
	raw := "From: x@y.example\r\nSubject: " + subj + "\r\nContent-Type: text/plain; charset=gbk\r\n\r\n\xc4\xe3\xba\xc3\r\n"
	m, _ := Parse([]byte(raw), Limits{})
	if m.Subject != "账户问题" || m.Text != "你好" {
		t.Errorf("subject %q text %q problems %q", m.Subject, m.Text, m.Problems)
	}
	// No charset at all and not UTF-8: kept with replacement characters, flagged.
	m, _ = Parse([]byte("From: x@y.example\r\nSubject: s\r\n\r\n\xc4\xe3\xba\xc3 ok\r\n"), Limits{})
	if !strings.HasSuffix(m.Text, " ok") || !strings.Contains(m.Text, "\uFFFD") || len(m.Problems) != 1 {
		t.Errorf("text %q problems %q", m.Text, m.Problems)
	}
}

func TestParseMultipartWithoutBoundary(t *testing.T) {
	raw := "From: x@y.example\r\nSubject: s\r\nContent-Type: multipart/mixed\r\n\r\n--abc\r\nContent-Type: text/plain\r\n\r\nhello\r\n--abc--\r\n"
	m, _ := Parse([]byte(raw), Limits{})
	if m.Text != "hello" || !slices.Equal(m.Problems, []string{"multipart without boundary", "bad multipart boundary (recovered)"}) {
		t.Errorf("text %q problems %q", m.Text, m.Problems)
	}
	m, _ = Parse([]byte("From: x@y.example\r\nContent-Type: multipart/mixed\r\n\r\njust text\r\n"), Limits{})
	if m.Text != "just text" {
		t.Errorf("text %q problems %q", m.Text, m.Problems)
	}
}
