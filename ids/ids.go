// Package ids generates and formats OKPay identifiers: 64-bit, roughly
// time-ordered numbers (unique across nodes through a node number) shown to
// users as a type prefix plus Crockford base32 ("acc_0d4m8y2k3q1ag").
package ids

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Generator hands out unique int64 identifiers. Implementations are safe
// for concurrent use.
type Generator interface {
	Next() int64
}

// epoch is 2025-01-01T00:00:00Z in milliseconds.
const epoch = 1735689600000

const (
	nodeBits = 10
	seqBits  = 12
	maxNode  = 1<<nodeBits - 1
	maxSeq   = 1<<seqBits - 1
)

// Snowflake is a Generator of 63-bit ids: 41 bits of milliseconds since
// 2025, 10 bits of node number, 12 bits of sequence. Ids from one generator
// increase strictly, even when the wall clock steps back.
type Snowflake struct {
	mu   sync.Mutex
	now  func() time.Time
	node int64
	last int64 // last millisecond used
	seq  int64
}

// NewSnowflake returns a generator for node (0..1023).
func NewSnowflake(node int, now func() time.Time) (*Snowflake, error) {
	if node < 0 || node > maxNode {
		return nil, fmt.Errorf("ids: node %d out of range 0..%d", node, maxNode)
	}
	if now == nil {
		now = time.Now
	}
	return &Snowflake{now: now, node: int64(node)}, nil
}

// Next returns the next id.
func (s *Snowflake) Next() int64 {
	s.mu.Lock()
	ms := s.now().UnixMilli() - epoch
	if ms < s.last {
		ms = s.last // clock stepped back: keep going from the last millisecond
	}
	if ms == s.last {
		s.seq++
		if s.seq > maxSeq {
			// Borrow the next millisecond rather than waiting: ids stay
			// unique and increasing; they run ahead of the clock briefly
			// under extreme load.
			ms++
			s.seq = 0
		}
	} else {
		s.seq = 0
	}
	s.last = ms
	id := ms<<(nodeBits+seqBits) | s.node<<seqBits | s.seq
	s.mu.Unlock()
	return id
}

// Sequence is a deterministic Generator for tests: 1, 2, 3...
type Sequence struct {
	mu sync.Mutex
	n  int64
}

// Next returns the next number.
func (s *Sequence) Next() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.n
}

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford base32, lower case

var decodeMap = func() [256]byte {
	var m [256]byte
	for i := range m {
		m[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		m[alphabet[i]] = byte(i)
		m[strings.ToUpper(alphabet[i : i+1])[0]] = byte(i)
	}
	return m
}()

// Format returns prefix + "_" + the 13-character base32 form of id.
func Format(prefix string, id int64) string {
	return string(Append(make([]byte, 0, len(prefix)+14), prefix, id))
}

// Append appends the formatted id to b.
func Append(b []byte, prefix string, id int64) []byte {
	b = append(b, prefix...)
	b = append(b, '_')
	u := uint64(id)
	var buf [13]byte
	for i := 12; i >= 0; i-- {
		buf[i] = alphabet[u&31]
		u >>= 5
	}
	return append(b, buf[:]...)
}

// Parse reads an id formatted by Format with the given prefix, in any
// case ("ACC_0000000000001" is "acc_0000000000001": base32 ids are read
// as the same id whatever a client or a person copying one did to their
// case). It reports false when s is not such an id, or is the id zero,
// which no row has.
func Parse(prefix, s string) (int64, bool) {
	if len(s) != len(prefix)+14 || !strings.EqualFold(s[:len(prefix)], prefix) || s[len(prefix)] != '_' {
		return 0, false
	}
	s = s[len(prefix)+1:]
	if decodeMap[s[0]] > 7 { // 13 characters carry 65 bits; ids use 63
		return 0, false
	}
	var u uint64
	for i := 0; i < len(s); i++ {
		v := decodeMap[s[i]]
		if v == 0xff {
			return 0, false
		}
		u = u<<5 | uint64(v)
	}
	if u == 0 { // no id is zero: it is the "none" of every table
		return 0, false
	}
	return int64(u), true
}
