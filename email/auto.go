package email

import (
	"regexp"
	"strings"
)

// Subjects of automatic replies from clients that set no header.
var autoSubject = regexp.MustCompile(`(?i)^(auto(matic)?[ -]?reply|auto:|out of (the )?office|autoreply|自动回复|自動回覆|自动答复|自動回復|undeliverable:|undelivered mail|delivery status notification|退信|系统退信|mail delivery failed)`)

// autoReply says why the message is automatic, "" when a person wrote it.
func (p *parser) autoReply() string {
	m := p.m
	local := strings.ToLower(m.From.Addr)
	if i := strings.LastIndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	rp := strings.TrimSpace(m.Get("Return-Path"))
	if local == "mailer-daemon" || local == "postmaster" || rp == "<>" ||
		strings.Contains(strings.ToLower(m.From.Name), "mail delivery") {
		return "mailer-daemon"
	}
	if v := strings.ToLower(strings.TrimSpace(m.Get("Auto-Submitted"))); v != "" && v != "no" {
		return "auto-submitted"
	}
	if m.Get("X-Autoreply") != "" || m.Get("X-Autorespond") != "" || m.Get("X-Auto-Reply") != "" ||
		strings.EqualFold(strings.TrimSpace(m.Get("X-Auto-Response-Suppress")), "all") && autoSubject.MatchString(m.Subject) {
		return "x-autoreply"
	}
	switch strings.ToLower(strings.TrimSpace(m.Get("Precedence"))) {
	case "bulk", "junk", "list", "auto_reply":
		return "precedence"
	}
	if p.report {
		return "report"
	}
	if m.Get("List-Id") != "" || m.Get("List-Unsubscribe") != "" {
		return "list"
	}
	if local == "noreply" || local == "no-reply" || local == "donotreply" || local == "do-not-reply" {
		return "noreply"
	}
	if autoSubject.MatchString(strings.TrimSpace(m.Subject)) {
		return "subject"
	}
	return ""
}
