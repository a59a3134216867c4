package email

import (
	"regexp"
	"strings"
)

// Markers of quoted history. Each matches one (trimmed) line; the quoted
// history starts at the first line that matches.
var quoteHeaders = []*regexp.Regexp{
	// Gmail, Apple Mail, Thunderbird: "On Thu, Nov 20, 2026 at 10:00 AM X <x@y> wrote:"
	regexp.MustCompile(`(?i)^(on|am|le|el|il|op|den|på)\b.{0,250}\b(wrote|schrieb|a écrit|escribió|ha scritto|schreef|skrev)\s*:$`),
	regexp.MustCompile(`(?i)^am\b.{0,200}\bschrieb\b.{0,200}:$`),
	// 163 / QQ / Apple Mail in Chinese: "在 2026-11-20 10:00:00，"x" <x@163.com> 写道："
	regexp.MustCompile(`^.{0,250}(写道|寫道)\s*[:：]$`),
	// Outlook, Foxmail, QQ Mail, 163 forward-reply separators
	regexp.MustCompile(`(?i)^-{2,}\s*(original message|原始邮件|原始郵件|回复的原邮件|原邮件|reply message)\s*-{2,}$`),
	regexp.MustCompile(`(?i)^-{2,}\s*(原始邮件|原始郵件|original)\s*-*$`),
	// Outlook on the web / mobile separator line above a header block is
	// handled in outlookBlock.
}

// A forwarded message is content the customer wants us to read: nothing
// below such a marker is trimmed.
var forwardMarker = regexp.MustCompile(`(?i)^(-{2,}\s*(forwarded message|转发的邮件|轉寄的郵件|转发邮件信息)\s*-*|begin forwarded message:|开始转发的邮件：)`)

// Headers of a quoted Outlook-style block: "From: ... Sent: ... To: ... Subject: ...".
var (
	hdrFrom    = regexp.MustCompile(`(?i)^\*?(from|发件人|寄件者|von|de|van)\s*\*?\s*[:：]`)
	hdrOther   = regexp.MustCompile(`(?i)^\*?(sent|date|to|cc|subject|发送时间|时间|日期|收件人|抄送|主题|寄件日期|傳送時間|收件者|副本|主旨|gesendet|an|betreff|envoyé|objet|à)\s*\*?\s*[:：]`)
	underscore = regexp.MustCompile(`^_{10,}$`)
)

// Signature starts: "-- " (RFC 3676) and the mobile-client footers.
var signatureLines = []*regexp.Regexp{
	regexp.MustCompile(`^--\s*$`),
	regexp.MustCompile(`(?i)^(sent from my|sent from|get outlook for|envoyé de mon|von meinem|enviado desde mi)\b.{0,60}$`),
	regexp.MustCompile(`(?i)^(发自我的|发自|来自|從我的|寄自我的|傳自我的).{0,30}(iphone|ipad|android|手机|手機|邮箱|郵箱|客户端|mail|Mail|华为|小米|荣耀|vivo|oppo|OPPO|HUAWEI|Xiaomi|Galaxy|网易邮箱大师|邮箱大师)$`),
}

// Visible returns text without the quoted history (reply headers such as
// "On ... wrote:", Outlook and Chinese clients' original-message blocks,
// "> " lines) and without a trailing signature. When nothing would be left
// it returns the whole text, trimmed.
func Visible(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	cut := len(lines)
	for i := 0; i < len(lines); i++ {
		if forwardMarker.MatchString(strings.TrimSpace(lines[i])) {
			break
		}
		if isQuoteStart(lines, i) {
			cut = i
			break
		}
	}
	kept := make([]string, 0, cut)
	for _, l := range lines[:cut] {
		if strings.HasPrefix(strings.TrimLeft(l, " "), ">") {
			continue
		}
		kept = append(kept, l)
	}
	// A signature must sit in the last lines of what is left.
	for i := len(kept) - 1; i >= 0 && i >= len(kept)-12; i-- {
		t := strings.TrimSpace(kept[i])
		if kept[i] == "-- " || kept[i] == "--" {
			kept = kept[:i]
			break
		}
		if isSignature(t) && onlyShortAfter(kept[i+1:]) {
			kept = kept[:i]
			break
		}
	}
	out := strings.TrimSpace(collapseBlank(kept))
	if out == "" {
		return strings.TrimSpace(text)
	}
	return out
}

func isSignature(t string) bool {
	if t == "" || len(t) > 120 {
		return false
	}
	for _, re := range signatureLines[1:] {
		if re.MatchString(t) {
			return true
		}
	}
	return false
}

func onlyShortAfter(rest []string) bool {
	n := 0
	for _, l := range rest {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n <= 4
}

func isQuoteStart(lines []string, i int) bool {
	t := strings.TrimSpace(lines[i])
	if t == "" {
		return false
	}
	if mayBeQuoteHeader(t) {
		for _, re := range quoteHeaders {
			if re.MatchString(t) {
				return true
			}
		}
	}
	// "On ... <x@y.com>" wrapped by the client, "wrote:" on the next line.
	if i+1 < len(lines) && mayBeQuoteHeader(strings.TrimSpace(lines[i+1])) {
		joined := t + " " + strings.TrimSpace(lines[i+1])
		lower := strings.ToLower(t)
		if len(t) < 200 && (strings.HasPrefix(lower, "on ") || strings.HasPrefix(lower, "am ") ||
			strings.HasPrefix(lower, "le ") || strings.HasPrefix(t, "在")) {
			for _, re := range quoteHeaders[:3] {
				if re.MatchString(joined) {
					return true
				}
			}
		}
	}
	if t[0] == '_' && underscore.MatchString(t) && i+1 < len(lines) && outlookBlock(lines, i+1) {
		return true
	}
	return strings.ContainsAny(t, ":：") && outlookBlock(lines, i)
}

// quoteWords are in every line a quoteHeaders pattern matches: a cheap
// test before the regular expressions.
var quoteWords = []string{"wrote", "schrieb", "écrit", "escribió", "scritto", "schreef", "skrev", "写道", "寫道", "--"}

func mayBeQuoteHeader(t string) bool {
	lower := strings.ToLower(t)
	for _, w := range quoteWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// outlookBlock reports whether a From: line at i is followed, within the
// next lines, by at least two other header lines (Sent:/To:/Subject:...).
func outlookBlock(lines []string, i int) bool {
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	if i >= len(lines) || !hdrFrom.MatchString(strings.TrimSpace(lines[i])) {
		return false
	}
	n := 0
	for j := i + 1; j < len(lines) && j <= i+6; j++ {
		t := strings.TrimSpace(lines[j])
		if t == "" {
			continue
		}
		if hdrOther.MatchString(t) {
			n++
		}
	}
	return n >= 2
}

func collapseBlank(lines []string) string {
	var b strings.Builder
	blank := 0
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		b.WriteString(strings.TrimRight(l, " \t"))
		b.WriteByte('\n')
	}
	return b.String()
}
