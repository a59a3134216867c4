package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/okpay/okpay"
	"github.com/okpay/okpay/money"
)

// Limits on what one request may carry.
const (
	MaxPostings      = 64
	MaxReferenceLen  = 128
	MaxTypeLen       = 64
	MaxMetadataKeys  = 50
	MaxMetadataKey   = 40
	MaxMetadataValue = 500
)

type request struct {
	op   Op
	idem *Idem
	hash [32]byte

	// expireID and expireRef are set on the sweeper's requests, which void
	// an expired hold.
	expireID  int64
	expireRef string

	out  Outcome
	err  error
	done chan struct{}
}

func (r *request) reference() string {
	if ref := r.op.Reference(); ref != "" {
		return ref
	}
	return r.expireRef
}

// Reference is the reference of the operation's entry.
func (op Op) Reference() string {
	switch {
	case op.Entry != nil:
		return op.Entry.Reference
	case op.Resolve != nil:
		return op.Resolve.Reference
	case op.Reverse != nil:
		return op.Reverse.Reference
	}
	return ""
}

func (r *request) finish(out Outcome, err error) {
	r.out, r.err = out, err
	close(r.done)
}

func newRequest(op Op, idem *Idem) (*request, error) {
	n := 0
	if op.Entry != nil {
		n++
	}
	if op.Resolve != nil {
		n++
	}
	if op.Reverse != nil {
		n++
	}
	if n != 1 {
		return nil, okpay.Errorf(okpay.EInvalid, "exactly one operation must be given")
	}
	if op.Hook != nil && op.TxHook != nil {
		return nil, okpay.Errorf(okpay.EInvalid, "give a Hook or a TxHook, not both")
	}
	r := &request{op: op, idem: idem, done: make(chan struct{})}
	fields := map[string]string{}
	h := hasher{h: sha256.New()}
	switch {
	case op.Entry != nil:
		in := op.Entry
		checkReference(fields, in.Reference)
		checkType(fields, in.Type)
		if len(in.Postings) == 0 {
			fields["postings"] = "at least one posting is required"
		} else if len(in.Postings) > MaxPostings {
			fields["postings"] = fmt.Sprintf("at most %d postings are allowed", MaxPostings)
		}
		for i, p := range in.Postings {
			key := fmt.Sprintf("postings[%d]", i)
			switch {
			case p.Amount <= 0:
				fields[key+".amount"] = "the amount must be greater than zero"
			case !p.Currency.Valid():
				fields[key+".currency"] = "unknown currency"
			case p.Debit == p.Credit:
				fields[key] = "the debit and credit accounts must differ"
			case p.Debit <= 0 || p.Credit <= 0:
				fields[key] = "both accounts are required"
			}
		}
		if in.Timeout < 0 {
			fields["timeout"] = "the timeout cannot be negative"
		}
		if in.Timeout > 0 && !in.Pending {
			fields["timeout"] = "only pending entries can time out"
		}
		checkMetadata(fields, in.Metadata)
		h.byte(1)
		h.str(in.Type)
		h.int(int64(len(in.Postings)))
		for _, p := range in.Postings {
			h.int(p.Debit)
			h.int(p.Credit)
			h.int(p.Amount)
			h.str(string(p.Currency))
		}
		h.bool(in.Pending)
		h.int(int64(in.Timeout))
		h.time(in.EffectiveAt)
		h.meta(in.Metadata)
	case op.Resolve != nil:
		in := op.Resolve
		checkReference(fields, in.Reference)
		if in.PendingID <= 0 {
			fields["pending_id"] = "the pending entry is required"
		}
		if in.Void && in.Amounts != nil {
			fields["amounts"] = "a void releases everything; amounts are for posting"
		}
		for i, a := range in.Amounts {
			if a < 0 {
				fields[fmt.Sprintf("amounts[%d]", i)] = "an amount cannot be negative"
			}
		}
		checkCurrencies(fields, in.Amounts, in.Currencies)
		checkMetadata(fields, in.Metadata)
		h.byte(2)
		h.int(in.PendingID)
		h.bool(in.Void)
		h.ints(in.Amounts)
		h.currencies(in.Currencies)
		h.meta(in.Metadata)
	case op.Reverse != nil:
		in := op.Reverse
		checkReference(fields, in.Reference)
		if in.EntryID <= 0 {
			fields["entry_id"] = "the entry to reverse is required"
		}
		for i, a := range in.Amounts {
			if a < 0 {
				fields[fmt.Sprintf("amounts[%d]", i)] = "an amount cannot be negative"
			}
		}
		checkCurrencies(fields, in.Amounts, in.Currencies)
		checkMetadata(fields, in.Metadata)
		h.byte(3)
		h.int(in.EntryID)
		h.ints(in.Amounts)
		h.currencies(in.Currencies)
		h.meta(in.Metadata)
	}
	if len(fields) > 0 {
		return nil, okpay.Invalid(fields)
	}
	if idem != nil && idem.FromEntry {
		// The entry is the idempotency record: it carries the request.
		h.byte(4)
		h.str(idem.Principal)
		h.str(string(idem.RequestHash))
	}
	h.h.Sum(r.hash[:0])
	return r, nil
}

func checkCurrencies(fields map[string]string, amounts []int64, curs []money.Currency) {
	if curs != nil && len(curs) != len(amounts) {
		fields["amounts"] = "give a currency for each amount"
	}
}

func checkReference(fields map[string]string, ref string) {
	switch {
	case ref == "":
		fields["reference"] = "a reference is required"
	case len(ref) > MaxReferenceLen:
		fields["reference"] = fmt.Sprintf("the reference must be at most %d bytes", MaxReferenceLen)
	case !printable(ref):
		fields["reference"] = "the reference must be printable ASCII"
	}
}

func checkType(fields map[string]string, t string) {
	if t == "" || len(t) > MaxTypeLen {
		fields["type"] = fmt.Sprintf("a type code of 1 to %d characters is required", MaxTypeLen)
		return
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			fields["type"] = "the type code may hold a-z, 0-9 and _ . : - only"
			return
		}
	}
}

func checkMetadata(fields map[string]string, m map[string]string) {
	if len(m) > MaxMetadataKeys {
		fields["metadata"] = fmt.Sprintf("at most %d metadata keys are allowed", MaxMetadataKeys)
		return
	}
	for k, v := range m {
		if k == "" || len(k) > MaxMetadataKey || !PlainText(k, false) {
			fields["metadata"] = fmt.Sprintf("metadata keys must be 1 to %d bytes of text without control characters", MaxMetadataKey)
			return
		}
		if len(v) > MaxMetadataValue || !PlainText(v, true) {
			fields["metadata."+k] = fmt.Sprintf("metadata values must be valid UTF-8 of at most %d bytes without control characters", MaxMetadataValue)
			return
		}
	}
}

// PlainText reports whether s is valid UTF-8 without control characters
// (NUL, which PostgreSQL's text refuses, among them) or the invisible
// characters that reorder text on screen (bidirectional overrides and
// isolates); lines allows tabs and line breaks.
func PlainText(s string, lines bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case lines && (r == '\t' || r == '\n' || r == '\r'):
		case unicode.IsControl(r), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

type hasher struct {
	h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	buf [8]byte
}

func (h *hasher) byte(b byte) { h.buf[0] = b; h.h.Write(h.buf[:1]) }
func (h *hasher) bool(b bool) {
	if b {
		h.byte(1)
	} else {
		h.byte(0)
	}
}
func (h *hasher) int(v int64) {
	binary.LittleEndian.PutUint64(h.buf[:], uint64(v))
	h.h.Write(h.buf[:])
}
func (h *hasher) str(s string) {
	h.int(int64(len(s)))
	h.h.Write([]byte(s))
}
func (h *hasher) ints(v []int64) {
	if v == nil {
		h.int(-1)
		return
	}
	h.int(int64(len(v)))
	for _, x := range v {
		h.int(x)
	}
}
func (h *hasher) currencies(c []money.Currency) {
	if c == nil {
		h.int(-1)
		return
	}
	h.int(int64(len(c)))
	for _, x := range c {
		h.str(string(x))
	}
}

func (h *hasher) time(t time.Time) {
	if t.IsZero() {
		h.int(0)
		return
	}
	h.int(t.UnixMicro())
}
func (h *hasher) meta(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h.int(int64(len(keys)))
	for _, k := range keys {
		h.str(k)
		h.str(m[k])
	}
}
