package maildesk

import (
	"encoding/base32"
	"strings"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/ids"
	"github.com/okpay/okpay/secret"
)

// Reply tokens. An outgoing mail's Reply-To is support+<id>.<mac>@domain:
// <id> is the conversation's number as in its reference (desk.ConversationRef
// without the "cnv_" prefix) and <mac> a keyed MAC of it, so a token cannot
// be made up for someone else's conversation (Chatwoot and libredesk take
// a bare conversation UUID there, which anyone who saw it can reuse). Both
// parts are lower-case base32: mail systems may fold the case of a local
// part.

// macLen is how many bytes of the MAC a token carries (80 bits).
const macLen = 10

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Tokens makes and checks reply tokens and visitor ids.
type Tokens struct {
	reply   *secret.MAC
	visitor *secret.MAC
	survey  *secret.MAC // rating links (survey.go)
}

// NewTokens returns the tokens keyed by keys' subkeys for the email channel.
func NewTokens(keys *secret.Keyring) *Tokens {
	return &Tokens{reply: keys.MAC("maildesk.reply-token"), visitor: keys.MAC("maildesk.visitor"), survey: keys.MAC("maildesk.survey-link")}
}

// Token returns the reply token of conversation id.
func (t *Tokens) Token(convID int64) string {
	ref := strings.TrimPrefix(desk.ConversationRef(convID), desk.ConversationPrefix+"_")
	return ref + "." + t.mac(ref)
}

func (t *Tokens) mac(ref string) string {
	return tokenEncoding.EncodeToString(t.reply.Sum([]byte(ref))[:macLen])
}

// Parse returns the conversation of a token made by Token (false for
// anything else).
func (t *Tokens) Parse(token string) (int64, bool) {
	token = strings.ToLower(token)
	ref, mac, ok := strings.Cut(token, ".")
	if !ok || len(ref) != 13 || len(mac) != tokenEncoding.EncodedLen(macLen) {
		return 0, false
	}
	id, ok := desk.ParseConversationRef(desk.ConversationPrefix + "_" + ref)
	if !ok || id <= 0 {
		return 0, false
	}
	if !t.reply.Equal([]byte(t.mac(ref)), []byte(mac)) {
		return 0, false
	}
	return id, true
}

// VisitorID returns the stable visitor id that owns the conversations of an
// unknown sender: a keyed hash of the address (a visitor id is a
// credential, so it must not be computable from the address alone).
func (t *Tokens) VisitorID(addr string) string {
	return "em_" + tokenEncoding.EncodeToString(t.visitor.Sum([]byte(strings.ToLower(addr)))[:20])
}

// Addresses are the support addresses mail is accepted for.
type Addresses struct {
	// list is lower-cased local@domain; the first one is the From of
	// outgoing mail.
	list []string
}

// ParseAddresses reads a comma-separated list of addresses.
func ParseAddresses(s string) (Addresses, bool) {
	var a Addresses
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		local, domain, ok := splitAddr(p)
		if !ok || strings.Contains(local, "+") {
			return Addresses{}, false
		}
		a.list = append(a.list, local+"@"+domain)
	}
	return a, len(a.list) > 0
}

// Primary returns the first address (the From of outgoing mail).
func (a Addresses) Primary() string {
	if len(a.list) == 0 {
		return ""
	}
	return a.list[0]
}

// List returns the addresses.
func (a Addresses) List() []string { return append([]string(nil), a.list...) }

// Match reports whether addr is one of the support addresses, or one of
// them with a "+tag" (tag is then returned: a reply token, or anything).
func (a Addresses) Match(addr string) (tag string, ok bool) {
	local, domain, ok := splitAddr(strings.ToLower(strings.TrimSpace(addr)))
	if !ok {
		return "", false
	}
	base, tag, _ := strings.Cut(local, "+")
	for _, s := range a.list {
		if s == base+"@"+domain {
			return tag, true
		}
	}
	return "", false
}

// Ours reports whether addr is one of our addresses, tagged or not (mail
// from them is a loop).
func (a Addresses) Ours(addr string) bool {
	_, ok := a.Match(addr)
	return ok
}

// ReplyAddress returns the primary address tagged with token.
func (a Addresses) ReplyAddress(token string) string {
	local, domain, _ := splitAddr(a.Primary())
	return local + "+" + token + "@" + domain
}

// Domain returns the primary address's domain.
func (a Addresses) Domain() string {
	_, d, _ := splitAddr(a.Primary())
	return d
}

func splitAddr(s string) (local, domain string, ok bool) {
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || len(s) > 254 {
		return "", "", false
	}
	local, domain = s[:at], s[at+1:]
	if strings.ContainsAny(s, " \t\r\n<>()[],;:\"\\") || strings.Contains(domain, "@") {
		return "", "", false
	}
	return local, domain, true
}

// subjectRef finds the conversation reference "[cnv_xxxxxxxxxxxxx]" of a
// subject: the last one, when there are several (a follow-up of a closed
// conversation is answered with its own reference after the old one; a
// reply keeping both belongs to the follow-up).
func subjectRef(subject string) (int64, bool) {
	s := strings.ToLower(subject)
	prefix := "[" + desk.ConversationPrefix + "_"
	var found int64
	for {
		i := strings.Index(s, prefix)
		if i < 0 {
			return found, found != 0
		}
		rest := s[i+1:]
		if j := strings.IndexByte(rest, ']'); j > 0 {
			if id, ok := ids.Parse(desk.ConversationPrefix, rest[:j]); ok && id > 0 {
				found = id
			}
		}
		s = s[i+len(prefix):]
	}
}
