package help

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/okpay/okpay/i18n"
)

// One tokenizer serves the index and the queries, in Chinese, English and
// both at once:
//
//   - A run of Han characters becomes its overlapping bigrams ("提现手续费"
//     → 提现 现手 手续 续费). A document also indexes each character alone,
//     so that a one-character query ("卡") finds it; a query uses the
//     single character only when its run is one character long.
//   - A run of other letters and digits is one word: width-folded
//     (full-width Ｌｏｇｉｎ is login), lower-cased and, when it is plain
//     a-z, reduced to its Porter stem ("withdrawals" → withdraw). Common
//     English words that say nothing about the subject ("how", "the",
//     "my") are left out.
//   - Everything else separates tokens.
//
// Each token keeps the byte offsets of the text it came from, so a
// snippet can mark the words a query matched.

// Token is one term of a text and where it came from.
type Token struct {
	Term       string
	Start, End int // byte offsets into the text
}

// maxTokenBytes bounds a single word (longer runs are cut): no one
// searches for a 200-letter word, and the index stays small.
const maxTokenBytes = 64

// maxQueryTerms bounds the terms a query searches for.
const maxQueryTerms = 32

// MaxQueryLen is the longest query, in bytes, that is read; the rest is
// ignored.
const MaxQueryLen = 200

// stopWords are English words too common to tell articles apart.
var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "and": true, "or": true, "of": true, "to": true, "in": true, "on": true,
	"at": true, "for": true, "by": true, "with": true, "from": true, "is": true, "are": true, "was": true, "be": true,
	"it": true, "its": true, "this": true, "that": true, "i": true, "me": true, "my": true, "we": true, "our": true,
	"you": true, "your": true, "do": true, "does": true, "did": true, "how": true, "what": true, "why": true,
	"when": true, "can": true, "cant": true, "can't": true, "will": true, "if": true, "not": true,
	"as": true, "so": true, "but": true, "about": true, "into": true, "there": true, "they": true, "them": true,
	"has": true, "have": true, "had": true, "which": true, "who": true, "than": true, "then": true, "too": true,
	"s": true, "t": true,
}

// zhStop are Chinese characters and bigrams that carry no subject
// (question words and particles).
var zhStop = map[string]bool{
	"的": true, "了": true, "吗": true, "呢": true, "吧": true, "是": true, "我": true, "你": true, "在": true,
	"怎么": true, "如何": true, "什么": true, "为什": true, "么我": true, "我的": true, "可以": true, "怎样": true,
	"一下": true, "请问": true, "么办": true, "怎么办": true, "您的": true, "我们": true,
}

// zhParticles are characters that end a phrase: a bigram holding one
// ("的提" of "我的提现") is no word.
var zhParticles = map[rune]bool{'的': true, '了': true, '吗': true, '呢': true, '吧': true, '啊': true}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func isWordRune(r rune) bool {
	return (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)) && !isHan(r)
}

// DocumentTokens splits an article's text for the index.
func DocumentTokens(s string) []Token { return tokenize(s, false, nil) }

// QueryTokens splits a search query (at most MaxQueryLen bytes of it,
// and at most 32 distinct terms).
func QueryTokens(q string) []Token {
	q = strings.ToValidUTF8(q, " ")
	if len(q) > MaxQueryLen {
		q = q[:MaxQueryLen]
		for !utf8.ValidString(q) {
			q = q[:len(q)-1]
		}
	}
	all := tokenize(q, true, nil)
	seen := map[string]bool{}
	out := all[:0]
	for _, t := range all {
		if seen[t.Term] {
			continue
		}
		seen[t.Term] = true
		out = append(out, t)
		if len(out) == maxQueryTerms {
			break
		}
	}
	return out
}

// QueryTerms returns the distinct terms of a query.
func QueryTerms(q string) []string {
	var out []string
	for _, t := range QueryTokens(q) {
		out = append(out, t.Term)
	}
	return out
}

// tokenize splits s. With skip, a word or run of Han characters for
// which skip(run) is true is left out before it is folded and stemmed or
// split (Highlight uses it to process only the runs that may match).
func tokenize(s string, query bool, skip func(string) bool) []Token {
	var out []Token
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case isHan(r):
			j := i
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if !isHan(r2) {
					break
				}
				j += n2
			}
			if skip != nil && skip(s[i:j]) {
				i = j
				continue
			}
			starts := make([]int, 0, (j-i)/3+1)
			for k := i; k < j; {
				_, n2 := utf8.DecodeRuneInString(s[k:])
				starts = append(starts, k)
				k += n2
			}
			starts = append(starts, j)
			out = appendHan(out, s, starts, query)
			i = j
		case isWordRune(r):
			j := i
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				// An apostrophe inside a word ("can't") stays in it.
				if !isWordRune(r2) && !(r2 == '\'' && j > i && j+1 < len(s) && isWordRune(rune(s[j+1]))) {
					break
				}
				j += n2
			}
			if skip != nil && skip(s[i:j]) {
				i = j
				continue
			}
			if term := wordTerm(s[i:j]); term != "" {
				out = append(out, Token{Term: term, Start: i, End: j})
			}
			i = j
		default:
			i += n
		}
	}
	return out
}

// appendHan adds the tokens of a run of Han characters; starts holds the
// byte offset of each character and, last, the run's end.
func appendHan(out []Token, s string, starts []int, query bool) []Token {
	n := len(starts) - 1
	if n == 1 || !query {
		for k := 0; k < n; k++ {
			if t := s[starts[k]:starts[k+1]]; !zhStop[t] || n == 1 {
				out = append(out, Token{Term: t, Start: starts[k], End: starts[k+1]})
			}
		}
	}
	for k := 0; k+1 < n; k++ {
		r1, _ := utf8.DecodeRuneInString(s[starts[k]:])
		r2, _ := utf8.DecodeRuneInString(s[starts[k+1]:])
		if zhParticles[r1] || zhParticles[r2] {
			continue
		}
		if t := s[starts[k]:starts[k+2]]; !zhStop[t] {
			out = append(out, Token{Term: t, Start: starts[k], End: starts[k+2]})
		}
	}
	return out
}

// wordTerm folds and stems one word; "" drops it.
func wordTerm(w string) string {
	w = strings.ToLower(width.Fold.String(w))
	w = strings.ReplaceAll(w, "'", "")
	if len(w) > maxTokenBytes {
		w = w[:maxTokenBytes]
		for !utf8.ValidString(w) {
			w = w[:len(w)-1]
		}
	}
	if w == "" || stopWords[w] {
		return ""
	}
	return Stem(w)
}

// localePrefix is the letter every index term of a locale starts with.
func localePrefix(l i18n.Lang) byte {
	if l == i18n.ZhCN {
		return 'z'
	}
	return 'e'
}

// indexTerm is how a term of locale l is stored in both engines'
// full-text indexes: the locale's letter, then plain a-z and 0-9 as they
// are or anything else as "q" and its UTF-8 in hex, so neither SQLite's
// nor PostgreSQL's parser ever sees a character it might split or fold
// differently.
func indexTerm(l i18n.Lang, t string) string {
	plain := true
	for i := 0; i < len(t); i++ {
		if c := t[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return string(localePrefix(l)) + t
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 2, 2+2*len(t))
	b[0], b[1] = localePrefix(l), 'q'
	for i := 0; i < len(t); i++ {
		b = append(b, hex[t[i]>>4], hex[t[i]&15])
	}
	return string(b)
}

// indexText is the text stored in the index for s of locale l: its
// document terms in index form, separated by spaces.
func indexText(l i18n.Lang, s string) string {
	var b strings.Builder
	for _, t := range DocumentTokens(s) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(indexTerm(l, t.Term))
	}
	return b.String()
}
