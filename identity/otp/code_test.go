package otp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	okpay "github.com/okpay/okpay"
	"github.com/okpay/okpay/secret"
)

// Chi-square critical values at significance p = 1e-6 (upper tail), from
// the regularised incomplete gamma function: a correct generator fails a
// given check about once in a million runs. The tests below make 3 such
// checks, so a spurious failure is a few-in-a-million event.
const (
	chi2df9   = 44.81   // 10 cells
	chi2df31  = 83.64   // 32 cells
	chi2df99  = 180.79  // 100 cells
	chi2df999 = 1226.05 // 1000 cells
)

// chiSquare returns Pearson's statistic for counts against a uniform
// distribution over len(counts) cells.
func chiSquare(counts []int) float64 {
	n := 0
	for _, c := range counts {
		n += c
	}
	e := float64(n) / float64(len(counts))
	x := 0.0
	for _, c := range counts {
		d := float64(c) - e
		x += d * d / e
	}
	return x
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func TestMFA02_NewCodeShape(t *testing.T) {
	for d := 1; d <= MaxDigits; d++ {
		c, err := NewCode(d)
		if err != nil {
			t.Fatal(err)
		}
		if !isDigits(c, d) {
			t.Fatalf("NewCode(%d) = %q", d, c)
		}
	}
	for _, d := range []int{-1, 0, MaxDigits + 1} {
		if _, err := NewCode(d); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Fatalf("NewCode(%d) err = %v", d, err)
		}
	}
}

func TestREC03_ResetCodeHasEightDigits(t *testing.T) {
	c, err := NewCode(ResetCodeDigits)
	if err != nil {
		t.Fatal(err)
	}
	if ResetCodeDigits != 8 || !isDigits(c, 8) {
		t.Fatalf("reset code %q", c)
	}
}

// countCodes draws n 6-digit codes from gen and returns the histograms per
// digit position, of all digits pooled, of the first two digits and of the
// first three digits.
func countCodes(t *testing.T, n int, gen func() (string, error)) (pos [6][]int, pooled, first2, first3 []int) {
	t.Helper()
	for i := range pos {
		pos[i] = make([]int, 10)
	}
	pooled, first2, first3 = make([]int, 10), make([]int, 100), make([]int, 1000)
	for range n {
		c, err := gen()
		if err != nil {
			t.Fatal(err)
		}
		if !isDigits(c, 6) {
			t.Fatalf("code %q", c)
		}
		for i := range 6 {
			pos[i][c[i]-'0']++
			pooled[c[i]-'0']++
		}
		first2[int(c[0]-'0')*10+int(c[1]-'0')]++
		first3[int(c[0]-'0')*100+int(c[1]-'0')*10+int(c[2]-'0')]++
	}
	return
}

// TestMFA02_NewCodeUniform is the chi-square test of MFA-02 on 10^5 codes
// from crypto/rand. Per position (9 degrees of freedom) and over the first
// two and three digits (99 and 999) the statistic must stay under the
// p = 1e-6 critical value.
func TestMFA02_NewCodeUniform(t *testing.T) {
	const n = 100_000
	pos, _, first2, first3 := countCodes(t, n, func() (string, error) { return NewCode(6) })
	for i, h := range pos {
		if x := chiSquare(h); x > chi2df9 {
			t.Errorf("position %d: chi-square %.2f > %.2f (p=1e-6, 9 df): %v", i, x, chi2df9, h)
		}
	}
	if x := chiSquare(first2); x > chi2df99 {
		t.Errorf("first two digits: chi-square %.2f > %.2f (p=1e-6, 99 df)", x, chi2df99)
	}
	if x := chiSquare(first3); x > chi2df999 {
		t.Errorf("first three digits: chi-square %.2f > %.2f (p=1e-6, 999 df)", x, chi2df999)
	}
}

// TestMFA02_ChiSquareCatchesModuloBias checks that the test above has
// teeth: a generator using byte%10 without rejection (0..5 get 26/256,
// 6..9 get 25/256) fails the pooled test, and the rejection sampler fed the
// same deterministic stream passes it.
func TestMFA02_ChiSquareCatchesModuloBias(t *testing.T) {
	const n = 100_000
	biasedSrc := rand.NewChaCha8([32]byte{1})
	biased := func() (string, error) {
		var b [6]byte
		if _, err := io.ReadFull(biasedSrc, b[:]); err != nil {
			return "", err
		}
		for i := range b {
			b[i] = '0' + b[i]%10
		}
		return string(b[:]), nil
	}
	_, pooled, _, _ := countCodes(t, n, biased)
	if x := chiSquare(pooled); x <= chi2df9 {
		t.Fatalf("modulo-biased generator passed: chi-square %.2f <= %.2f", x, chi2df9)
	}
	fairSrc := rand.NewChaCha8([32]byte{1})
	_, pooled, _, _ = countCodes(t, n, func() (string, error) { return newCode(fairSrc, 6) })
	if x := chiSquare(pooled); x > chi2df9 {
		t.Fatalf("rejection sampler failed: chi-square %.2f > %.2f", x, chi2df9)
	}
}

func TestMFA02_NewCodeRejectsHighBytes(t *testing.T) {
	stream := make([]byte, 64)
	for i := range stream {
		stream[i] = 250 + byte(i%6) // all rejected
	}
	copy(stream[40:], []byte{255, 9, 250, 19, 251, 29, 252, 39, 253, 249, 254, 0, 1})
	c, err := newCode(bytes.NewReader(stream), 6)
	if err != nil {
		t.Fatal(err)
	}
	if c != "999990" {
		t.Fatalf("newCode = %q, want 999990 (bytes >= 250 skipped)", c)
	}
	_, err = newCode(bytes.NewReader(stream[:32]), 6)
	if err == nil || okpay.ErrorCode(err) != okpay.EInternal || !errors.Is(err, io.EOF) {
		t.Fatalf("short random stream: err = %v", err)
	}
}

func TestParseCodeAccepts(t *testing.T) {
	for in, want := range map[string]string{
		"123456":             "123456",
		" 123456 ":           "123456",
		"\t123456\n":         "123456",
		"123 456":            "123456",
		"123  456":           "123456",
		"12 34 56":           "123456",
		"123-456":            "123456",
		"12-34-56":           "123456",
		"123 - 456":          "123456",
		"１２３４５６":             "123456",
		"１２３－４５６":            "123456",
		"１２３\u3000４５６":       "123456",
		"\u3000123456\u3000": "123456",
		"000000":             "000000",
	} {
		got, ok := ParseCode(in, 6)
		if !ok || got != want {
			t.Errorf("ParseCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if got, ok := ParseCode("1234 5678", 8); !ok || got != "12345678" {
		t.Errorf("8 digits: %q %v", got, ok)
	}
}

func TestParseCodeRejects(t *testing.T) {
	for _, in := range []string{
		"", " ", "-", "12345", "1234567", "123 4567", "12345a", "a123456",
		"-123456", "123456-", "123--456", "123 -- 456", "123_456", "123.456",
		"123,456", "+123456", "１２３４５", "123456\x00", "\xff123456",
		"١٢٣٤٥٦", // Arabic-Indic digits
		"¹²³⁴⁵⁶", // superscripts
		"①②③④⑤⑥", "12３4５6x", "123\u00a0456", "123\n456",
		strings.Repeat(" ", 70) + "123456",
	} {
		if got, ok := ParseCode(in, 6); ok {
			t.Errorf("ParseCode(%q) accepted as %q", in, got)
		}
	}
	for _, d := range []int{-1, 0, MaxDigits + 1} {
		if _, ok := ParseCode("123456", d); ok {
			t.Errorf("ParseCode with %d digits accepted", d)
		}
	}
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", " 123 456 ", "123-456", "１２３４５６", "12--34", "", "-", "12345678", "\u3000"} {
		f.Add(s, uint8(6))
		f.Add(s, uint8(8))
	}
	f.Fuzz(func(t *testing.T, s string, d uint8) {
		digits := int(d % (MaxDigits + 3)) // also 0 and over the maximum
		got, ok := ParseCode(s, digits)
		if !ok {
			if got != "" {
				t.Fatalf("rejected %q but returned %q", s, got)
			}
			return
		}
		if !isDigits(got, digits) {
			t.Fatalf("ParseCode(%q, %d) = %q: not %d ASCII digits", s, digits, got, digits)
		}
		if again, ok := ParseCode(got, digits); !ok || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, ok)
		}
	})
}

func TestMFA02_CodeMACBoundToFlow(t *testing.T) {
	k, err := secret.NewKeyring(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	m := k.MAC("otp.sms")
	a := CodeMAC(m, "flow-A", "123456")
	if !m.Equal(a, CodeMAC(m, "flow-A", "123456")) {
		t.Fatal("same flow and code give another tag")
	}
	if m.Equal(a, CodeMAC(m, "flow-B", "123456")) {
		t.Fatal("a code from flow A matches flow B")
	}
	if m.Equal(a, CodeMAC(m, "flow-A", "123457")) {
		t.Fatal("another code matches")
	}
	if m.Equal(CodeMAC(m, "flow-1", "23456"), CodeMAC(m, "flow-12", "3456")) {
		t.Fatal("flow id and code are not framed")
	}
	if !m.Equal(a, m.Sum([]byte("flow-A"), []byte("123456"))) {
		t.Fatal("CodeMAC is not m.Sum(flowID, code)")
	}
	if bytes.Contains(a, []byte("123456")) || len(a) != 32 {
		t.Fatalf("tag %x", a)
	}
	if len(m.KeyID()) != 8 {
		t.Fatalf("KeyID %q", m.KeyID())
	}
}
