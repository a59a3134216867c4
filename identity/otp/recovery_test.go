package otp

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	okpay "github.com/okpay/okpay"
)

var recoveryRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)

func TestMFA07_RecoveryCodeFormat(t *testing.T) {
	codes, err := NewRecoveryCodes(RecoveryCodeCount)
	if err != nil {
		t.Fatal(err)
	}
	if RecoveryCodeCount != 10 || len(codes) != 10 {
		t.Fatalf("%d codes", len(codes))
	}
	idx := map[string]bool{}
	sec := map[string]bool{}
	for _, c := range codes {
		s := c.String()
		if !recoveryRE.MatchString(s) || len(s) != 19 {
			t.Fatalf("code %q is not IIII-SSSS-SSSS-SSSS", s)
		}
		if len(c.Index) != 4 || len(c.Secret) != 12 || s[:4] != c.Index || strings.ReplaceAll(s[5:], "-", "") != c.Secret {
			t.Fatalf("code %+v formats as %q", c, s)
		}
		if idx[c.Index] {
			t.Fatalf("index %s repeats", c.Index)
		}
		idx[c.Index], sec[c.Secret] = true, true
	}
	if len(sec) != 10 {
		t.Fatal("secrets repeat")
	}
	if RecoverySecretLen*5 < 60 {
		t.Fatalf("secret has %d bits, want >= 60", RecoverySecretLen*5)
	}
}

func TestMFA07_NewRecoveryCodesCount(t *testing.T) {
	for _, n := range []int{-1, 0, MaxRecoveryCodes + 1} {
		if _, err := NewRecoveryCodes(n); okpay.ErrorCode(err) != okpay.EInvalid {
			t.Fatalf("NewRecoveryCodes(%d): %v", n, err)
		}
	}
	codes, err := NewRecoveryCodes(MaxRecoveryCodes)
	if err != nil || len(codes) != MaxRecoveryCodes {
		t.Fatalf("%d codes, %v", len(codes), err)
	}
}

// TestMFA07_IndexesUniqueOnCollision feeds a stream whose second code
// repeats the first index: it is drawn again.
func TestMFA07_IndexesUniqueOnCollision(t *testing.T) {
	var stream []byte
	stream = append(stream, 0, 0, 0, 0)                     // index 0000
	stream = append(stream, bytes.Repeat([]byte{1}, 12)...) // secret
	stream = append(stream, 32, 64, 96, 128)                // index 0000 again (low 5 bits)
	stream = append(stream, 0, 0, 0, 1)                     // index 0001
	stream = append(stream, bytes.Repeat([]byte{2}, 12)...)
	codes, err := newRecoveryCodes(bytes.NewReader(stream), 2)
	if err != nil {
		t.Fatal(err)
	}
	if codes[0].String() != "0000-1111-1111-1111" || codes[1].String() != "0001-2222-2222-2222" {
		t.Fatalf("codes %v", codes)
	}
	if _, err := newRecoveryCodes(bytes.NewReader(stream[:20]), 2); err == nil || okpay.ErrorCode(err) != okpay.EInternal {
		t.Fatalf("short stream: %v", err)
	}
}

// TestMFA07_RecoveryAlphabetUniform: characters of 10^4 sets' secrets are
// uniform over the 32 Crockford symbols (chi-square, 31 df, p = 1e-6).
func TestMFA07_RecoveryAlphabetUniform(t *testing.T) {
	counts := make([]int, 32)
	for range 1000 {
		codes, err := NewRecoveryCodes(10)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			for i := 0; i < len(c.Secret); i++ {
				counts[strings.IndexByte(crockford, c.Secret[i])]++
			}
		}
	}
	if x := chiSquare(counts); x > chi2df31 {
		t.Fatalf("chi-square %.2f > %.2f: %v", x, chi2df31, counts)
	}
}

func TestMFA07_ParseRecoveryCode(t *testing.T) {
	for in, want := range map[string]string{
		"ABCD-EFGH-JKMN-PQRS":         "ABCD-EFGH-JKMN-PQRS",
		"abcd-efgh-jkmn-pqrs":         "ABCD-EFGH-JKMN-PQRS",
		"ABCDEFGHJKMNPQRS":            "ABCD-EFGH-JKMN-PQRS",
		" abcd efgh jkmn pqrs ":       "ABCD-EFGH-JKMN-PQRS",
		"AB-CD--EFGH-JKMN-PQRS-":      "ABCD-EFGH-JKMN-PQRS",
		"ABCD - EFGH - JKMN - PQRS\t": "ABCD-EFGH-JKMN-PQRS",
		"ABCD-EFGH\r\nJKMN-PQRS\n":    "ABCD-EFGH-JKMN-PQRS",
		"0O0o-IiLl-1111-VWXY":         "0000-1111-1111-VWXY",
		"ZZZZ-ZZZZ-ZZZZ-ZZZZ":         "ZZZZ-ZZZZ-ZZZZ-ZZZZ",
	} {
		i, s, ok := ParseRecoveryCode(in)
		if !ok {
			t.Errorf("ParseRecoveryCode(%q) rejected", in)
			continue
		}
		if got := (RecoveryCode{i, s}).String(); got != want {
			t.Errorf("ParseRecoveryCode(%q) = %s, want %s", in, got, want)
		}
	}
	codes, _ := NewRecoveryCodes(10)
	for _, c := range codes {
		i, s, ok := ParseRecoveryCode(strings.ToLower(c.String()))
		if !ok || i != c.Index || s != c.Secret {
			t.Errorf("round trip of %s: %s %s %v", c, i, s, ok)
		}
	}
	for _, in := range []string{
		"", "----", "ABCD-EFGH-JKMN", // the 3-group format carries only 40 bits of secret
		"ABCD-EFGH-JKMN-PQR", "ABCD-EFGH-JKMN-PQRST", "ABCD-EFGH-JKMN-PQRU",
		"ABCD_EFGH_JKMN_PQRS", "ABCD.EFGH.JKMN.PQRS", "ÀBCD-EFGH-JKMN-PQRS",
		"ABCD-EFGH-JKMN-PQR\x00", "ABCD-EFGH-JKMN-PQRS\v",
		"ＡＢＣＤ-EFGH-JKMN-PQRS",
		strings.Repeat("-", 60) + "ABCDEFGHJKMNPQRS",
	} {
		if i, s, ok := ParseRecoveryCode(in); ok {
			t.Errorf("ParseRecoveryCode(%q) accepted as %s %s", in, i, s)
		}
	}
}

func FuzzParseRecoveryCode(f *testing.F) {
	for _, s := range []string{"ABCD-EFGH-JKMN-PQRS", "abcd efgh jkmn pqrs", "0O0o-IiLl-1111-VWXY", "ABCD-EFGH-JKMN", "", "U", "----"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		i, s, ok := ParseRecoveryCode(in)
		if !ok {
			if i != "" || s != "" {
				t.Fatalf("rejected %q but returned %q %q", in, i, s)
			}
			return
		}
		if len(i) != RecoveryIndexLen || len(s) != RecoverySecretLen {
			t.Fatalf("ParseRecoveryCode(%q) = %q %q", in, i, s)
		}
		for _, c := range []byte(i + s) {
			if strings.IndexByte(crockford, c) < 0 {
				t.Fatalf("ParseRecoveryCode(%q) = %q %q: %q is not Crockford", in, i, s, c)
			}
		}
		formatted := RecoveryCode{i, s}.String()
		if !recoveryRE.MatchString(formatted) {
			t.Fatalf("formats as %q", formatted)
		}
		if i2, s2, ok := ParseRecoveryCode(formatted); !ok || i2 != i || s2 != s {
			t.Fatalf("not idempotent: %q -> %q -> %q %q %v", in, formatted, i2, s2, ok)
		}
	})
}
