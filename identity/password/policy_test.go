package password

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/okpay/okpay"
)

func TestPWD01_CodePointsNotBytes(t *testing.T) {
	p := testPolicy(t)
	reject := []string{
		"gr@vel-",                    // 7 ASCII
		"ééééééé",                    // 7 code points, 14 bytes
		"🐙🦊🐢🦉🐝🦋🐬",                    // 7 emoji, 28 bytes
		strings.Repeat("e\u0301", 4), // 8 code points raw, 4 after NFKC
		"",
	}
	for _, pw := range reject {
		wantCode(t, p.Check(pw), CodeTooShort)
	}
	accept := []string{
		"gr@vel-k", // 8 ASCII
		"éééééééè", // 8 code points
		"🐙🦊🐢🦉🐝🦋🐬🦔", // 8 emoji
	}
	for _, pw := range accept {
		if err := p.Check(pw); err != nil {
			t.Errorf("Check(%q) = %v, want nil", pw, err)
		}
	}
	if MinRunes != 8 || MaxBytes != 1024 {
		t.Fatalf("MinRunes=%d MaxBytes=%d", MinRunes, MaxBytes)
	}
}

func TestPWD02_LongPassphraseAndMaxBytes(t *testing.T) {
	p := testPolicy(t)
	phrase := "lanterns drift over the quiet harbours while gulls argue at dawn"
	if n := utf8.RuneCountInString(phrase); n != 64 {
		t.Fatalf("phrase has %d characters", n)
	}
	if err := p.Check(phrase); err != nil {
		t.Fatalf("64-character passphrase: %v", err)
	}
	if err := p.Check(strings.Repeat("q", MaxBytes)); err != nil {
		t.Fatalf("1024 bytes: %v", err)
	}

	// Over 1024 bytes, whatever the code points or what NFKC would make of
	// them (U+FDFA expands to 18 code points).
	for _, pw := range []string{
		strings.Repeat("q", MaxBytes+1),
		strings.Repeat("€", 342), // 1026 bytes, 342 code points
		strings.Repeat("\uFDFA", 342),
	} {
		wantCode(t, p.Check(pw), CodeTooLong)
	}

	// Cheap: the median of 100 checks is far below 5 ms.
	long := strings.Repeat("\uFDFA", 100_000)
	durations := make([]time.Duration, 100)
	for i := range durations {
		start := time.Now()
		err := p.Check(long, "someone@example.com", "+1 555 123 4567")
		durations[i] = time.Since(start)
		wantCode(t, err, CodeTooLong)
	}
	slices.Sort(durations)
	if med := durations[50]; med > 5*time.Millisecond {
		t.Fatalf("median Check of over-long input took %v", med)
	}

	// Before any hashing: Hash and Verify refuse it without argon2.
	h := cheapHasher(t)
	computes := countComputes(h)
	_, err := h.Hash(t.Context(), long)
	wantCode(t, err, CodeTooLong)
	_, _, err = h.Verify(t.Context(), long, h.dummy)
	wantCode(t, err, CodeTooLong)
	wantCode(t, h.DummyVerify(t.Context(), long), CodeTooLong)
	if n := computes(); n != 0 {
		t.Fatalf("%d argon2 computations for over-long input", n)
	}
}

var compositionWords = regexp.MustCompile(`(?i)digit|number|numeral|symbol|special|upper|capital|lower|punctuation|letter|mix`)

func TestPWD03_NoCompositionRules(t *testing.T) {
	p := testPolicy(t)
	for _, pw := range []string{
		"a long lowercase passphrase about tide pools",
		"quietharbourlanterns",
		"ALLCAPSNOBODYGUESSES",
		"ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ",
	} {
		if err := p.Check(pw); err != nil {
			t.Errorf("Check(%q) = %v", pw, err)
		}
	}
	cases := map[string]string{
		CodeTooShort:   "short",
		CodeTooLong:    strings.Repeat("x", MaxBytes+1),
		CodeCommon:     "password123",
		CodeContextual: "myokpaywallet",
	}
	for code, pw := range cases {
		e := wantCode(t, p.Check(pw), code)
		msg := e.Fields["password"]
		if msg == "" {
			t.Errorf("%s: no message in Fields", code)
		}
		for _, s := range []string{msg, e.Message, e.Error()} {
			if m := compositionWords.FindString(s); m != "" {
				t.Errorf("%s: message %q mentions %q", code, s, m)
			}
		}
	}
}

func TestPWD05_Blocklist(t *testing.T) {
	bl, err := testBlocklist()
	if err != nil {
		t.Fatal(err)
	}
	if bl.Len() < 100_000 {
		t.Fatalf("blocklist has %d entries, want ≥ 100,000", bl.Len())
	}
	p := testPolicy(t)
	for _, pw := range []string{
		"password", "password1", "PassWord123", "12345678", "iloveyou",
		"qwertyuiop", "1q2w3e4r5t", "ＰＡＳＳＷＯＲＤ１２３", // full width, NFKC → password123
	} {
		e := wantCode(t, p.Check(pw), CodeCommon)
		if okpay.ErrorCode(e) != CodeCommon || e.Fields["password"] == "" {
			t.Errorf("Check(%q) = %+v", pw, e)
		}
	}
	if !bl.Contains("Password1") || bl.Contains("lanterns drift over the quiet harbours") {
		t.Fatal("Contains is wrong")
	}
	// Nil blocklist: only the other rules apply.
	if err := NewPolicy(nil).Check("password123"); err != nil {
		t.Fatalf("nil blocklist: %v", err)
	}
}

func TestPWD05_ContextWords(t *testing.T) {
	p := testPolicy(t)
	email := "Alice.Smithson+bank@example.com"
	phone := "+1 (555) 123-4567"
	ctx := []string{email, phone}
	contextual := []string{
		"my okpay wallet",       // product name, always
		"MyOKPAYwallet!",        // case-insensitive
		"ｏｋｐａｙ rocks hard",      // NFKC
		"alice.smithson+bank",   // email local part
		"hello alice in chains", // piece of the local part
		"smithson family vault", // piece of the local part
		"alice.smithson+bank@example.com",
		"call me 15551234567",   // phone digits
		"my number 5551234567!", // without country code
		"+1 (555) 123-4567",     // equal to the context value
	}
	for _, pw := range contextual {
		wantCode(t, p.Check(pw, ctx...), CodeContextual)
	}
	// Without the user's context only the product name applies.
	if err := p.Check("hello alice in chains"); err != nil {
		t.Fatalf("no context: %v", err)
	}
	// Words under four code points only match the whole password.
	if err := p.Check("bobsledding in winter", "bob@x.io"); err != nil {
		t.Fatalf("short local part: %v", err)
	}
	wantCode(t, p.Check("bob@x.io", "bob@x.io"), CodeContextual)
	// A blank context value is ignored.
	if err := p.Check("lanterns over the harbour", "", "   "); err != nil {
		t.Fatalf("blank context: %v", err)
	}
}

func TestCheckOrder(t *testing.T) {
	p := testPolicy(t)
	// Too long wins over everything, too short over common and contextual.
	wantCode(t, p.Check(strings.Repeat("password", 200)), CodeTooLong)
	wantCode(t, p.Check("okpay"), CodeTooShort)
	wantCode(t, p.Check("password1", "password1"), CodeCommon) // listed and contextual
}

func TestReadBlocklist(t *testing.T) {
	in := "Zebra\r\n\nalpha\nALPHA\nｂｅｔａ\n" + strings.Repeat("x", MaxBytes+1) + "\n"
	bl, err := ReadBlocklist(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if bl.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (alpha, beta, zebra)", bl.Len())
	}
	for _, w := range []string{"alpha", "Alpha", "beta", "BETA", "zebra"} {
		if !bl.Contains(w) {
			t.Errorf("missing %q", w)
		}
	}
	for _, w := range []string{"", "alph", "alphaa", "gamma", "zebra\r"} {
		if bl.Contains(w) {
			t.Errorf("unexpected %q", w)
		}
	}
	var empty *Blocklist
	if empty.Len() != 0 || empty.Contains("x") {
		t.Fatal("nil Blocklist")
	}
}

// TestEmbeddedBlocklistFile checks the shipped file's shape: sorted, unique,
// already folded and of policy length, so loading changes nothing.
func TestEmbeddedBlocklistFile(t *testing.T) {
	zr, err := gzip.NewReader(bytes.NewReader(blocklistGz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) < 100_000 {
		t.Fatalf("%d lines", len(lines))
	}
	if !slices.IsSorted(lines) {
		t.Fatal("not sorted")
	}
	for i, l := range lines {
		if i > 0 && l == lines[i-1] {
			t.Fatalf("duplicate %q", l)
		}
		if foldKey(l) != l || utf8.RuneCountInString(l) < MinRunes {
			t.Fatalf("entry %q is not folded or too short", l)
		}
	}
	bl, _ := testBlocklist()
	if bl.Len() != len(lines) {
		t.Fatalf("loaded %d of %d", bl.Len(), len(lines))
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"", "short", "gr@vel-k", "password123", "🐙🦊🐢🦉🐝🦋🐬🦔", "e\u0301e\u0301e\u0301e\u0301",
		"ＰＡＳＳＷＯＲＤ１２３", "my okpay wallet", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8",
		strings.Repeat("\uFDFA", 60), strings.Repeat("a", MaxBytes+1),
	} {
		f.Add(s, "alice.smith@example.com")
		f.Add(s, "+44 20 7946 0958")
	}
	p := testPolicy(f)
	bl, _ := testBlocklist()
	codes := []string{CodeTooShort, CodeTooLong, CodeCommon, CodeContextual}
	f.Fuzz(func(t *testing.T, pw, context string) {
		err := p.Check(pw, context)
		if err == nil {
			if len(pw) > MaxBytes {
				t.Fatalf("accepted %d bytes", len(pw))
			}
			if n := utf8.RuneCountInString(norm.NFKC.String(pw)); n < MinRunes {
				t.Fatalf("accepted %q with %d code points", pw, n)
			}
			if bl.Contains(pw) {
				t.Fatalf("accepted listed %q", pw)
			}
			return
		}
		var e *okpay.Error
		if !asError(err, &e) || !slices.Contains(codes, e.Code) || e.Fields["password"] == "" {
			t.Fatalf("Check(%q) = %#v", pw, err)
		}
		if len(pw) > MaxBytes && e.Code != CodeTooLong {
			t.Fatalf("%d bytes gave %s", len(pw), e.Code)
		}
	})
}

func asError(err error, target **okpay.Error) bool {
	e, ok := err.(*okpay.Error)
	*target = e
	return ok
}
