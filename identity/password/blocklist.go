package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// blocklistGz is the embedded common-password list; see the package doc and
// blocklist_NOTICE.txt for its source and licence.
//
//go:embed blocklist.txt.gz
var blocklistGz []byte

// Blocklist is an immutable set of common passwords, matched after NFKC
// normalization and lower-casing. Entries live in one string in sorted
// order and are found by binary search (about 1.3 MB for 100,000 entries).
type Blocklist struct {
	data string   // entries concatenated, sorted
	end  []uint32 // end[i] is the offset in data where entry i ends
}

// NewBlocklist decodes the embedded list. Do it once at start-up and share
// the result (it is safe for concurrent use).
func NewBlocklist() (*Blocklist, error) {
	zr, err := gzip.NewReader(bytes.NewReader(blocklistGz))
	if err != nil {
		return nil, fmt.Errorf("password: embedded blocklist: %w", err)
	}
	defer zr.Close()
	return ReadBlocklist(zr)
}

// ReadBlocklist reads a plain-text list, one password a line (blank lines
// are skipped, a trailing CR is dropped). Entries longer than MaxBytes are
// skipped: Check rejects such input before looking at the list.
func ReadBlocklist(r io.Reader) (*Blocklist, error) {
	var keys []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte{'\r'})
		if len(line) == 0 || len(line) > MaxBytes {
			continue
		}
		keys = append(keys, foldKey(string(line)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password: reading blocklist: %w", err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)

	size := 0
	for _, k := range keys {
		size += len(k)
	}
	if uint64(size) > uint64(^uint32(0)) {
		return nil, fmt.Errorf("password: blocklist too large")
	}
	var data strings.Builder
	data.Grow(size)
	end := make([]uint32, len(keys))
	for i, k := range keys {
		data.WriteString(k)
		end[i] = uint32(data.Len())
	}
	return &Blocklist{data: data.String(), end: end}, nil
}

// Len is the number of distinct entries.
func (b *Blocklist) Len() int {
	if b == nil {
		return 0
	}
	return len(b.end)
}

// Contains reports whether pw, NFKC-normalized and lower-cased, is listed.
func (b *Blocklist) Contains(pw string) bool {
	return b.containsKey(foldKey(pw))
}

func (b *Blocklist) containsKey(k string) bool {
	if b == nil {
		return false
	}
	lo, hi := 0, len(b.end)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c := strings.Compare(b.entry(mid), k); c == 0 {
			return true
		} else if c < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return false
}

func (b *Blocklist) entry(i int) string {
	start := uint32(0)
	if i > 0 {
		start = b.end[i-1]
	}
	return b.data[start:b.end[i]]
}

// foldKey is the matching form of a password or context word: NFKC, then
// lower case.
func foldKey(s string) string {
	return strings.ToLower(norm.NFKC.String(s))
}
