package assistant

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/okpay/okpay/help"
)

// Intent is what a customer's message asks for.
type Intent string

// The intents the assistant recognises.
const (
	IntentWithdrawalStatus Intent = "withdrawal_status"
	IntentTransferStatus   Intent = "transfer_status"
	IntentDepositStatus    Intent = "deposit_status"
	IntentRejectedOrFailed Intent = "rejected_or_failed"
	IntentAccountFrozen    Intent = "account_frozen"
	IntentCannotLogin      Intent = "cannot_login"
	IntentChangeCard       Intent = "change_card"
	IntentExchangeCurrency Intent = "exchange_currency"
	// IntentBalance asks how much money the customer has.
	IntentBalance Intent = "balance"
	// IntentFeesLimits asks what something costs or how much may move.
	IntentFeesLimits Intent = "fees_limits"
	// IntentAccountSecurity asks whether money and account are safe, or
	// how to protect them (second factors, passkeys).
	IntentAccountSecurity Intent = "account_security"
	// IntentCloseAccount asks to close (delete) the account: a person
	// does it, after checking who asks and what the wallets hold.
	IntentCloseAccount Intent = "close_account"
	// IntentChangeContact asks how to change the email address or phone
	// number.
	IntentChangeContact Intent = "change_contact"
	// IntentRefundDispute asks for money back: a payment to the wrong
	// person, a refund, a payment the customer does not recognise or a
	// scam. Money sent cannot be pulled back by the assistant: a person
	// looks at it.
	IntentRefundDispute Intent = "refund_dispute"
	IntentTalkToHuman   Intent = "talk_to_human"
	// IntentGreeting is a greeting or small talk ("hello", "thanks",
	// "who are you"): answered with a greeting and what the assistant can
	// do, never handed over.
	IntentGreeting Intent = "greeting"
	// IntentUnknown is anything else.
	IntentUnknown Intent = "unknown"
)

// Intents lists every intent, IntentUnknown last.
func Intents() []Intent {
	return []Intent{IntentWithdrawalStatus, IntentTransferStatus, IntentDepositStatus, IntentRejectedOrFailed, IntentAccountFrozen,
		IntentCannotLogin, IntentChangeCard, IntentExchangeCurrency, IntentBalance, IntentFeesLimits, IntentAccountSecurity,
		IntentCloseAccount, IntentChangeContact, IntentRefundDispute, IntentTalkToHuman, IntentGreeting, IntentUnknown}
}

// Valid reports whether i is one of Intents.
func (i Intent) Valid() bool { return slices.Contains(Intents(), i) }

// MaxText is the longest message, in bytes, the classifier reads; the
// rest is ignored.
const MaxText = 1000

// Classifier recognises intents: a multinomial naive Bayes model over
// the help center's search terms of a message (Chinese characters and
// bigrams, English stems; help.DocumentTokens), its lower-cased words
// with the common ones the search leaves out ("can't", "how", "not"), and
// its character bigrams, trained from labelled utterances. It runs in
// the process, with no outside service, and is safe for concurrent use
// once trained.
type Classifier struct {
	intents []Intent
	// prior is log P(intent); like[i][f] is log P(feature f | intent i),
	// unseen[i] the log probability of a feature intent i never had.
	prior  []float64
	like   []map[string]float64
	unseen []float64
	vocab  map[string]bool
}

// Example is one labelled utterance.
type Example struct {
	Intent Intent
	Text   string
}

//go:embed data/train.tsv
var trainingData string

// Default returns the classifier trained on the utterances shipped in
// the binary (data/train.tsv).
func Default() (*Classifier, error) {
	ex, err := ReadExamples(strings.NewReader(trainingData))
	if err != nil {
		return nil, fmt.Errorf("assistant: training data: %w", err)
	}
	return Train(ex)
}

// ReadExamples reads labelled utterances, one a line: the intent, a tab,
// the text. Empty lines and lines starting with # are skipped.
func ReadExamples(r io.Reader) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		in, text, ok := strings.Cut(line, "\t")
		if !ok || !Intent(in).Valid() || strings.TrimSpace(text) == "" {
			return nil, fmt.Errorf("line %d: want <intent>\\t<text>, got %q", n, line)
		}
		out = append(out, Example{Intent: Intent(in), Text: strings.TrimSpace(text)})
	}
	return out, sc.Err()
}

// Train builds a classifier from examples (every intent needs one).
func Train(examples []Example) (*Classifier, error) {
	c := &Classifier{intents: Intents(), vocab: map[string]bool{}}
	counts := make([]map[string]float64, len(c.intents))
	totals := make([]float64, len(c.intents))
	docs := make([]float64, len(c.intents))
	for i := range counts {
		counts[i] = map[string]float64{}
	}
	for _, ex := range examples {
		i := slices.Index(c.intents, ex.Intent)
		if i < 0 {
			return nil, fmt.Errorf("assistant: unknown intent %q", ex.Intent)
		}
		docs[i]++
		for f, w := range features(ex.Text) {
			counts[i][f] += w
			totals[i] += w
			c.vocab[f] = true
		}
	}
	v := float64(len(c.vocab))
	const alpha = 0.5
	for i := range c.intents {
		if docs[i] == 0 {
			return nil, fmt.Errorf("assistant: no example of intent %s", c.intents[i])
		}
		// Equal priors: the examples' shares say how many were written,
		// not how often customers ask.
		c.prior = append(c.prior, math.Log(1/float64(len(c.intents))))
		denom := totals[i] + alpha*v
		like := make(map[string]float64, len(counts[i]))
		for f, n := range counts[i] {
			like[f] = math.Log((n + alpha) / denom)
		}
		c.like = append(c.like, like)
		c.unseen = append(c.unseen, math.Log(alpha/denom))
	}
	return c, nil
}

// Score is an intent with its probability.
type Score struct {
	Intent      Intent
	Probability float64
}

// MinProbability is the least probability Classify accepts: below it the
// classifier is unsure and says IntentUnknown.
const MinProbability = 0.5

// Classify returns the most likely intent of text and its probability
// (0 to 1). A text with no known word is IntentUnknown with probability
// 1; when no intent reaches MinProbability it is IntentUnknown with the
// best intent's probability.
func (c *Classifier) Classify(text string) (Intent, float64) {
	s := c.Scores(text)
	if s[0].Probability < MinProbability {
		return IntentUnknown, s[0].Probability
	}
	return s[0].Intent, s[0].Probability
}

// Scores returns every intent's probability for text, the most likely
// first.
func (c *Classifier) Scores(text string) []Score {
	feats := features(text)
	// Character bigrams alone ("hey" shares "he" with "help") are no
	// evidence: a text needs a known word or term, or a known bigram of
	// Chinese characters (a two-character word such as 在吗 that the
	// search's terms leave out).
	known := 0
	for f := range feats {
		if c.vocab[f] && (!strings.HasPrefix(f, "c:") || hanBigram(f)) {
			known++
		}
	}
	out := make([]Score, len(c.intents))
	if known == 0 {
		for i, in := range c.intents {
			out[i] = Score{Intent: in}
			if in == IntentUnknown {
				out[i].Probability = 1
			}
		}
		slices.SortStableFunc(out, func(a, b Score) int { return cmpDesc(a.Probability, b.Probability) })
		return out
	}
	logp := make([]float64, len(c.intents))
	best := math.Inf(-1)
	for i := range c.intents {
		lp := c.prior[i]
		for f, w := range feats {
			if !c.vocab[f] {
				continue // a word never seen says nothing
			}
			l, ok := c.like[i][f]
			if !ok {
				l = c.unseen[i]
			}
			lp += w * l
		}
		logp[i] = lp
		best = max(best, lp)
	}
	sum := 0.0
	for i := range logp {
		sum += math.Exp(logp[i] - best)
	}
	for i, in := range c.intents {
		out[i] = Score{Intent: in, Probability: math.Exp(logp[i]-best) / sum}
	}
	slices.SortStableFunc(out, func(a, b Score) int { return cmpDesc(a.Probability, b.Probability) })
	return out
}

// hanBigram reports whether feature f is a bigram of two Chinese
// characters.
func hanBigram(f string) bool {
	rs := []rune(strings.TrimPrefix(f, "c:"))
	return len(rs) == 2 && unicode.Is(unicode.Han, rs[0]) && unicode.Is(unicode.Han, rs[1])
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// features are the weighted features of a text: the help search's terms
// ("t:"), every lower-cased word ("w:") and the character bigrams of each
// word or Han run ("c:"), each counted once.
func features(text string) map[string]float64 {
	if len(text) > MaxText {
		text = text[:MaxText]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	text = strings.ToValidUTF8(text, " ")
	out := map[string]float64{}
	for _, t := range help.DocumentTokens(text) {
		out["t:"+t.Term] = 1
	}
	folded := strings.ToLower(width.Fold.String(text))
	words := strings.FieldsFunc(folded, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'')
	})
	for _, w := range words {
		w = strings.Trim(w, "'")
		if w == "" {
			continue
		}
		rs := []rune(w)
		if !unicode.Is(unicode.Han, rs[0]) {
			out["w:"+strings.ReplaceAll(w, "'", "")] = 1
		}
		if len(rs) < 2 {
			continue
		}
		for k := 0; k+1 < len(rs) && k < 64; k++ {
			out["c:"+string(rs[k:k+2])] = 0.5
		}
	}
	return out
}
