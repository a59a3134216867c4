package email

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, name := range []string{"gmail.eml", "foxmail_gbk.eml", "netease163.eml", "truncated.eml", "bounce.eml", "thunderbird.eml"} {
		raw, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("Subject: =?gbk?B?zfW3vA==?=\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Disposition: attachment; filename*0*=gbk''%D5; filename*1*=%CB\r\n\r\nhi\r\n--x--"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw, Limits{MaxParts: 20})
		if err != nil || m == nil {
			t.Fatalf("Parse = %v, %v", m, err)
		}
		for _, p := range m.Problems {
			if strings.HasPrefix(p, "parser failure") {
				t.Fatalf("panic inside Parse: %s", p)
			}
		}
		for name, s := range map[string]string{"Text": m.Text, "Visible": m.Visible, "Subject": m.Subject, "From.Name": m.From.Name} {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is not UTF-8: %q", name, s)
			}
		}
		if strings.ContainsAny(m.Subject, "\r\n") || strings.ContainsAny(m.Text, "\r\x00") {
			t.Fatalf("control characters: subject %q text %q", m.Subject, m.Text)
		}
		if m.Size != len(raw) {
			t.Fatalf("Size = %d", m.Size)
		}
		for _, a := range m.Attachments {
			if strings.ContainsAny(a.Name, "/\\\x00") {
				t.Fatalf("attachment name %q", a.Name)
			}
		}
		if len(raw) > 1 { // MaxBytes 0 means the default
			if m, err := Parse(raw, Limits{MaxBytes: int64(len(raw) - 1)}); !errors.Is(err, ErrTooLarge) || m != nil {
				t.Fatalf("over the limit: %v, %v", m, err)
			}
		}
	})
}

func FuzzNormalizeSubject(f *testing.F) {
	for _, s := range []string{"Re: 回复：Fwd: x", "RE[2]: AW: y", "", "转发: 轉寄: z", "Re:", "[EXTERNAL] re: q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeSubject(s)
		if NormalizeSubject(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, NormalizeSubject(n))
		}
		if n != strings.TrimSpace(n) {
			t.Fatalf("untrimmed %q", n)
		}
	})
}

func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{`<p>a<br>b</p><script>x</script>`, `<a href="https://x">y</a>`, `<blockquote><pre> a
 b</pre></blockquote>`, `<ul><li><table><tr><td>1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := HTMLToText(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 from valid input: %q", out)
		}
		if strings.Contains(s, "<script>SECRET") && strings.Contains(out, "SECRET") && !strings.Contains(strings.ReplaceAll(s, "<script>SECRET", ""), "SECRET") {
			t.Fatalf("script text leaked: %q", out)
		}
	})
}

// message20KB is a realistic ~20 KB mail: text and HTML alternatives and
// one ~11 KB PDF attachment.
func message20KB() []byte {
	var b bytes.Buffer
	b.WriteString("From: =?UTF-8?B?5byg5Lyf?= <zhang.wei@gmail.com>\r\nTo: support@okpay.example\r\n" +
		"Subject: =?UTF-8?B?UmU6IOaPkOeOsOacquWIsOi0pg==?=\r\nDate: Fri, 21 Nov 2026 17:02:03 +0800\r\n" +
		"Message-ID: <bench.1@mail.gmail.com>\r\nIn-Reply-To: <okp.1@okpay.example>\r\nReferences: <okp.1@okpay.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mixed\"\r\n\r\n" +
		"--mixed\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	text := strings.Repeat("您好，我昨天的提现还没有到账，请帮忙查一下。\n", 15) +
		"\nOn Thu, Nov 20, 2026 at 10:00 AM OKPay <support@okpay.example> wrote:\n" + strings.Repeat("> 旧的回复内容\n", 10)
	writeB64(&b, []byte(text))
	b.WriteString("--alt\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	writeB64(&b, []byte("<div>"+strings.ReplaceAll(text, "\n", "<br>")+"</div>"))
	b.WriteString("--alt--\r\n--mixed\r\nContent-Type: application/pdf; name=\"statement.pdf\"\r\n" +
		"Content-Disposition: attachment; filename=\"statement.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	pdf := make([]byte, 0, 11*1024)
	for i := 0; len(pdf) < 11*1024; i++ {
		pdf = append(pdf, byte(i*7+i/251))
	}
	writeB64(&b, pdf)
	b.WriteString("--mixed--\r\n")
	return b.Bytes()
}

func writeB64(b *bytes.Buffer, data []byte) {
	s := base64.StdEncoding.EncodeToString(data)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
}

func TestMessage20KB(t *testing.T) {
	raw := message20KB()
	if len(raw) < 19*1024 || len(raw) > 22*1024 {
		t.Fatalf("benchmark message is %d bytes", len(raw))
	}
	m, err := Parse(raw, Limits{})
	if err != nil || len(m.Attachments) != 1 || len(m.Attachments[0].Data) != 11*1024 || len(m.Problems) != 0 ||
		m.Visible != strings.TrimSpace(strings.Repeat("您好，我昨天的提现还没有到账，请帮忙查一下。\n", 15)) {
		t.Fatalf("parse: %v %+v", err, m)
	}
}

// BenchmarkParse20KBAttachment measures Parse on a 20 KB message with one
// attachment. Run: go test -run '^$' -bench Parse20KB -benchmem ./email/
func BenchmarkParse20KBAttachment(b *testing.B) {
	raw := message20KB()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(raw, Limits{})
		if err != nil || len(m.Attachments) != 1 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
