// Package i18n holds OKPay's message catalogs (Simplified Chinese and English)
// and chooses the language of a request.
//
// The catalogs are TOML files embedded from locales/. Every message id exists
// in every language; a test enforces it. Message ids are dotted, lower-case
// and stable ("home.title", "problem.not_found.title"): code refers to them by
// id, never by text.
package i18n

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Lang is a language OKPay speaks, as a BCP 47 tag.
type Lang string

// The languages OKPay speaks.
const (
	ZhCN Lang = "zh-CN" // Simplified Chinese
	En   Lang = "en"    // English, the default
)

// Default is the language used when nothing in a request asks for another.
const Default = En

// CookieName is the name of the cookie that keeps the language chosen with the
// page's language switch.
const CookieName = "lang"

// Langs returns the supported languages, default first.
func Langs() []Lang { return []Lang{En, ZhCN} }

// ParseLang returns the supported language named exactly (ignoring case) by s.
// It accepts only the canonical tags "zh-CN" and "en"; use Negotiate for
// free-form input such as an Accept-Language header.
func ParseLang(s string) (Lang, bool) {
	for _, l := range Langs() {
		if strings.EqualFold(s, string(l)) {
			return l, true
		}
	}
	return "", false
}

// Tag returns the language tag of l, for formatting numbers, money and dates
// with golang.org/x/text. An unsupported Lang yields the default's tag.
func (l Lang) Tag() language.Tag {
	if l == ZhCN {
		return language.SimplifiedChinese
	}
	return language.English
}

// String returns the BCP 47 tag, as used in <html lang> and Content-Language.
func (l Lang) String() string { return string(l) }

//go:embed locales/*.toml
var localeFS embed.FS

// Catalog translates message ids into the supported languages. It is safe for
// concurrent use. Create one with New and pass it to whoever needs it.
type Catalog struct {
	localizers map[Lang]*goi18n.Localizer
	ids        map[Lang]map[string]struct{}
	// plain holds, per language, the messages that are text and
	// {{.Field}} placeholders only, split at the placeholders: T fills
	// them without text/template (a seventh of the time, BenchmarkT; the
	// notices of a wallet transfer render about twenty texts).
	plain map[Lang]map[string]plainText
}

// New loads the embedded catalogs.
func New() (*Catalog, error) {
	return newFromFS(localeFS)
}

func newFromFS(fsys fs.FS) (*Catalog, error) {
	bundle := goi18n.NewBundle(Default.Tag())
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalog{
		localizers: make(map[Lang]*goi18n.Localizer),
		ids:        make(map[Lang]map[string]struct{}),
		plain:      make(map[Lang]map[string]plainText),
	}
	for _, l := range Langs() {
		files, err := localeFiles(fsys, l)
		if err != nil {
			return nil, err
		}
		ids := make(map[string]struct{})
		plain := make(map[string]plainText)
		for _, path := range files {
			mf, err := bundle.LoadMessageFileFS(fsys, path)
			if err != nil {
				return nil, fmt.Errorf("i18n: load %s: %w", path, err)
			}
			for _, m := range mf.Messages {
				if _, dup := ids[m.ID]; dup {
					return nil, fmt.Errorf("i18n: %s: message %q is defined twice", path, m.ID)
				}
				ids[m.ID] = struct{}{}
				if p, ok := splitPlain(m); ok {
					plain[m.ID] = p
				}
			}
		}
		c.ids[l] = ids
		c.plain[l] = plain
		c.localizers[l] = goi18n.NewLocalizer(bundle, string(l))
	}
	return c, nil
}

// plainText is a message of text and {{.Field}} placeholders: texts[0],
// field 0, texts[1], ... (len(texts) == len(fields)+1).
type plainText struct {
	texts  []string
	fields []string
	size   int // the texts' length
}

// splitPlain splits m's text at its placeholders when it has no plural
// forms, the default delimiters and only {{.Field}} actions.
func splitPlain(m *goi18n.Message) (plainText, bool) {
	if m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != "" ||
		(m.LeftDelim != "" && m.LeftDelim != "{{") || (m.RightDelim != "" && m.RightDelim != "}}") {
		return plainText{}, false
	}
	var p plainText
	rest := m.Other
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			if strings.Contains(rest, "}}") {
				return plainText{}, false
			}
			p.texts = append(p.texts, rest)
			p.size += len(rest)
			return p, true
		}
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			return plainText{}, false
		}
		field, ok := strings.CutPrefix(rest[open+2:open+end], ".")
		if !ok || !isIdent(field) || strings.Contains(rest[:open], "}}") {
			return plainText{}, false
		}
		p.texts = append(p.texts, rest[:open])
		p.size += len(rest[:open])
		p.fields = append(p.fields, field)
		rest = rest[open+end+2:]
	}
}

// isIdent reports whether s is a Go identifier of ASCII letters, digits
// and underscores (what a template field name here is).
func isIdent(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// fill renders p with data as text/template would, or reports false when
// a field is missing from data or nil (text/template's "<no value>" is
// left to it).
func (p plainText) fill(data map[string]any) (string, bool) {
	if len(p.fields) == 0 {
		return p.texts[0], true
	}
	var b strings.Builder
	b.Grow(p.size + 16*len(p.fields))
	for i, f := range p.fields {
		b.WriteString(p.texts[i])
		v, ok := data[f]
		if !ok || v == nil {
			return "", false
		}
		switch v := v.(type) {
		case string:
			b.WriteString(v)
		case int:
			b.WriteString(strconv.Itoa(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		default:
			fmt.Fprint(&b, v)
		}
	}
	b.WriteString(p.texts[len(p.fields)])
	return b.String(), true
}

// localeFiles lists the catalog files of l: "locales/<l>.toml" and any
// "locales/<area>.<l>.toml" (one file per area keeps each part of the
// product's texts together).
func localeFiles(fsys fs.FS, l Lang) ([]string, error) {
	all, err := fs.Glob(fsys, "locales/*.toml")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range all {
		name := strings.TrimPrefix(f, "locales/")
		if name == string(l)+".toml" || strings.HasSuffix(name, "."+string(l)+".toml") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("i18n: no catalog for %s in locales/", l)
	}
	return out, nil
}

// T returns the message id in lang, with data filled into its {{.Field}}
// placeholders. An unsupported lang is treated as the default. A message that
// is missing (or fails to render) yields the id itself, so a gap shows on the
// page instead of breaking it.
func (c *Catalog) T(lang Lang, id string, data map[string]any) string {
	if _, ok := c.localizers[lang]; !ok {
		lang = Default
	}
	// A plain message is a known one: one map look-up on the common path.
	if p, ok := c.plain[lang][id]; ok {
		if msg, ok := p.fill(data); ok {
			return msg
		}
	} else if _, ok := c.ids[lang][id]; !ok {
		return id
	}
	msg, err := c.localizers[lang].Localize(&goi18n.LocalizeConfig{
		MessageID:    id,
		TemplateData: data,
	})
	if err != nil {
		return id
	}
	return msg
}

// Has reports whether id exists in every supported language.
func (c *Catalog) Has(id string) bool {
	for _, l := range Langs() {
		if _, ok := c.ids[l][id]; !ok {
			return false
		}
	}
	return true
}

// IDs returns the sorted message ids of lang (nil for an unsupported lang).
func (c *Catalog) IDs(lang Lang) []string {
	ids := make([]string, 0, len(c.ids[lang]))
	for id := range c.ids[lang] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// matcher maps requested tags onto the supported languages, in the order of
// Langs (English first, so it is the fallback). It is immutable.
var matcher = language.NewMatcher([]language.Tag{language.English, language.SimplifiedChinese})

// Negotiate returns the language for r: the "lang" cookie set by the page's
// language switch if it names a supported language, then the Accept-Language
// header (q-values honoured), then English. Every Chinese tag (zh, zh-CN,
// zh-Hans, zh-SG, zh-TW, zh-HK, ...) maps to Simplified Chinese, the only
// Chinese OKPay has. A malformed header counts as absent.
func Negotiate(r *http.Request) Lang {
	if ck, err := r.Cookie(CookieName); err == nil {
		if l, ok := ParseLang(ck.Value); ok {
			return l
		}
	}
	return FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// FromAcceptLanguage returns the supported language that best fits an
// Accept-Language header value, or the default.
func FromAcceptLanguage(header string) Lang {
	if strings.TrimSpace(header) == "" {
		return Default
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return Default
	}
	zh := language.MustParseBase("zh")
	for i, t := range tags {
		// Traditional Chinese readers still read Chinese better than
		// English; the matcher alone would send them to English.
		if b, _ := t.Base(); b == zh {
			tags[i] = language.SimplifiedChinese
		}
	}
	_, idx, conf := matcher.Match(tags...)
	if conf == language.No {
		return Default
	}
	return Langs()[idx]
}
