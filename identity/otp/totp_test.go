package otp

import (
	"bytes"
	"encoding/base32"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// rfcSecret is the SHA-1 secret of RFC 4226 appendix D and RFC 6238
// appendix B.
var rfcSecret = []byte("12345678901234567890")

// TestMFA05_RFC6238Vectors checks the SHA-1 rows of RFC 6238 appendix B
// (8 digits) through the internal HOTP path and through pquerna/otp.
func TestMFA05_RFC6238Vectors(t *testing.T) {
	for _, v := range []struct {
		unix int64
		step int64
		code string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	} {
		tm := time.Unix(v.unix, 0).UTC()
		if s := Step(tm); s != v.step {
			t.Errorf("Step(%d) = %#x, want %#x", v.unix, s, v.step)
		}
		if got := hotp(rfcSecret, uint64(Step(tm)), 8); got != v.code {
			t.Errorf("T=%d: hotp = %s, want %s", v.unix, got, v.code)
		}
		got, err := totp.GenerateCodeCustom(EncodeSecret(rfcSecret), tm, totp.ValidateOpts{
			Period: TOTPPeriod, Digits: potp.DigitsEight, Algorithm: potp.AlgorithmSHA1,
		})
		if err != nil || got != v.code {
			t.Errorf("T=%d: pquerna = %s, %v; want %s", v.unix, got, err, v.code)
		}
		// The 6-digit code is the last 6 digits of the 8-digit one.
		if got := TOTPCode(rfcSecret, tm); got != v.code[2:] {
			t.Errorf("T=%d: TOTPCode = %s, want %s", v.unix, got, v.code[2:])
		}
	}
}

// TestRFC4226Vectors checks HOTP appendix D (6 digits, counters 0..9).
func TestRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for c, w := range want {
		if got := hotp(rfcSecret, uint64(c), 6); got != w {
			t.Errorf("counter %d: %s, want %s", c, got, w)
		}
	}
}

func TestMFA05_TOTPCodeMatchesPquerna(t *testing.T) {
	now := time.Now()
	for i := range 200 {
		s, err := GenerateTOTPSecret()
		if err != nil {
			t.Fatal(err)
		}
		tm := now.Add(time.Duration(i) * 17 * time.Second)
		want, err := totp.GenerateCode(EncodeSecret(s), tm)
		if err != nil {
			t.Fatal(err)
		}
		if got := TOTPCode(s, tm); got != want {
			t.Fatalf("secret %x at %v: %s, pquerna %s", s, tm, got, want)
		}
	}
}

func TestMFA05_SecretIs20RandomBytes(t *testing.T) {
	a, err := GenerateTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateTOTPSecret()
	if len(a) != 20 || len(b) != 20 || bytes.Equal(a, b) {
		t.Fatalf("secrets %x %x", a, b)
	}
}

func TestMFA05_EncodeSecret(t *testing.T) {
	if got := EncodeSecret(rfcSecret); got != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Fatalf("EncodeSecret = %s", got)
	}
	s := []byte{0xff, 0x00, 0x10}
	e := EncodeSecret(s)
	if strings.Contains(e, "=") || e != strings.ToUpper(e) {
		t.Fatalf("EncodeSecret(%x) = %q: padded or lower case", s, e)
	}
	back, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e)
	if err != nil || !bytes.Equal(back, s) {
		t.Fatalf("round trip: %x %v", back, err)
	}
}

func TestMFA05_ProvisioningURI(t *testing.T) {
	got := ProvisioningURI("OKPay", "alice@example.com", rfcSecret)
	want := "otpauth://totp/OKPay:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=OKPay&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Fatalf("ProvisioningURI =\n %s\nwant\n %s", got, want)
	}
	for _, c := range []struct{ issuer, account string }{
		{"OKPay", "alice@example.com"},
		{"OK Pay & Co", "bob+1@example.com"},
		{"OKPay (test)", "+33 6 12 34 56 78"},
		{"ÖKPay", "émilie/#?%@x"},
	} {
		u := ProvisioningURI(c.issuer, c.account, rfcSecret)
		if strings.ContainsAny(u, " +") {
			t.Errorf("%s: a space or plus is not percent-encoded", u)
		}
		k, err := potp.NewKeyFromURL(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if k.Type() != "totp" || k.Issuer() != c.issuer {
			t.Errorf("%s: type %q issuer %q", u, k.Type(), k.Issuer())
		}
		if k.AccountName() != c.account {
			t.Errorf("%s: account %q, want %q", u, k.AccountName(), c.account)
		}
		if k.Secret() != EncodeSecret(rfcSecret) || k.Period() != 30 || k.Digits() != potp.DigitsSix || k.Algorithm() != potp.AlgorithmSHA1 {
			t.Errorf("%s: secret %s period %d digits %d algorithm %v", u, k.Secret(), k.Period(), k.Digits(), k.Algorithm())
		}
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "otpauth" || pu.Host != "totp" || pu.Path != "/"+c.issuer+":"+c.account {
			t.Errorf("%s: parsed %+v, %v", u, pu, err)
		}
	}
	// Without an issuer: the label is the account alone.
	u := ProvisioningURI("", "alice", rfcSecret)
	if u != "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30" {
		t.Fatalf("no issuer: %s", u)
	}
}

func TestStep(t *testing.T) {
	for unix, want := range map[int64]int64{0: 0, 29: 0, 30: 1, 59: 1, 60: 2, -1: -1, -30: -1, -31: -2} {
		if got := Step(time.Unix(unix, 0)); got != want {
			t.Errorf("Step(%d) = %d, want %d", unix, got, want)
		}
	}
	if Step(time.Unix(30, 999_999_999)) != 1 {
		t.Error("sub-second part changes the step")
	}
}

// fixedNow is in the middle of a step.
var fixedNow = time.Unix(1_700_000_015, 0)

func codeAt(secret []byte, step int64) string {
	return TOTPCode(secret, time.Unix(step*TOTPPeriod, 0))
}

func TestMFA05_AcceptedSteps(t *testing.T) {
	cur := Step(fixedNow)
	for _, c := range []struct {
		step int64
		ok   bool
	}{{cur, true}, {cur - 1, true}, {cur - 2, false}, {cur + 1, false}, {cur - 10, false}} {
		step, ok := CheckTOTP(rfcSecret, codeAt(rfcSecret, c.step), fixedNow, 0)
		if ok != c.ok {
			t.Errorf("code of step cur%+d: ok = %v, want %v", c.step-cur, ok, c.ok)
		}
		if ok && step != c.step {
			t.Errorf("code of step cur%+d: returned step cur%+d", c.step-cur, step-cur)
		}
		if !ok && step != 0 {
			t.Errorf("rejected but returned step %d", step)
		}
	}
	// At the first second of a step, the previous step's code still works;
	// at the last second, the next step's code does not.
	start := time.Unix(cur*TOTPPeriod, 0)
	if _, ok := CheckTOTP(rfcSecret, codeAt(rfcSecret, cur-1), start, 0); !ok {
		t.Error("previous step rejected at the start of a step")
	}
	if _, ok := CheckTOTP(rfcSecret, codeAt(rfcSecret, cur+1), start.Add(29*time.Second), 0); ok {
		t.Error("next step accepted at the end of a step")
	}
}

func TestMFA05_ReuseRejected(t *testing.T) {
	cur := Step(fixedNow)
	code := codeAt(rfcSecret, cur)
	step, ok := CheckTOTP(rfcSecret, code, fixedNow, 0)
	if !ok || step != cur {
		t.Fatalf("first use: %d %v", step, ok)
	}
	// The same code again, later in the same 30 s, with the stored step.
	if _, ok := CheckTOTP(rfcSecret, code, fixedNow.Add(10*time.Second), step); ok {
		t.Fatal("the same code was accepted twice")
	}
	// The previous step's code is older than the stored step: rejected too.
	if _, ok := CheckTOTP(rfcSecret, codeAt(rfcSecret, cur-1), fixedNow, step); ok {
		t.Fatal("an older step was accepted after a newer one")
	}
	// The next step's code, when its time comes, is accepted.
	next := fixedNow.Add(TOTPPeriod * time.Second)
	if s, ok := CheckTOTP(rfcSecret, codeAt(rfcSecret, cur+1), next, step); !ok || s != cur+1 {
		t.Fatalf("next step: %d %v", s, ok)
	}
	// Using step cur-1 first still lets step cur through once.
	s1, ok := CheckTOTP(rfcSecret, codeAt(rfcSecret, cur-1), fixedNow, 0)
	if !ok || s1 != cur-1 {
		t.Fatalf("previous step: %d %v", s1, ok)
	}
	if s2, ok := CheckTOTP(rfcSecret, code, fixedNow, s1); !ok || s2 != cur {
		t.Fatalf("current after previous: %d %v", s2, ok)
	}
}

// TestMFA05_SetupCodeNotReplayableAsFirstLogin: enrollment stores the step
// of the setup code, so the same code cannot be the first login code.
func TestMFA05_SetupCodeNotReplayableAsFirstLogin(t *testing.T) {
	s, err := GenerateTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	setup := TOTPCode(s, fixedNow)
	lastStep, ok := CheckTOTP(s, setup, fixedNow, 0) // enrollment
	if !ok {
		t.Fatal("setup code rejected")
	}
	if _, ok := CheckTOTP(s, setup, fixedNow.Add(20*time.Second), lastStep); ok {
		t.Fatal("setup code replayed as the first login code")
	}
}

// TestMFA05_ConcurrentSubmitsOneWins shows the caller's contract: two
// concurrent submits of one code both pass CheckTOTP, and the
// compare-and-swap on last_step lets exactly one of them in.
func TestMFA05_ConcurrentSubmitsOneWins(t *testing.T) {
	var lastStep atomic.Int64 // stands for the DB column
	code := TOTPCode(rfcSecret, fixedNow)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			seen := lastStep.Load()
			step, ok := CheckTOTP(rfcSecret, code, fixedNow, seen)
			if ok && lastStep.CompareAndSwap(seen, step) {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d submits won, want exactly 1", wins.Load())
	}
}

func TestCheckTOTPInput(t *testing.T) {
	code := TOTPCode(rfcSecret, fixedNow)
	for _, in := range []string{code[:3] + " " + code[3:], " " + code[:3] + "-" + code[3:] + " "} {
		if _, ok := CheckTOTP(rfcSecret, in, fixedNow, 0); !ok {
			t.Errorf("%q rejected", in)
		}
	}
	for _, in := range []string{"", code[:5], code + "0", "0" + code, "abcdef", code[:5] + "x"} {
		if _, ok := CheckTOTP(rfcSecret, in, fixedNow, 0); ok {
			t.Errorf("%q accepted", in)
		}
	}
	short := rfcSecret[:MinTOTPSecretLen-1]
	if _, ok := CheckTOTP(short, TOTPCode(short, fixedNow), fixedNow, 0); ok {
		t.Error("a secret under 128 bits was accepted")
	}
	if _, ok := CheckTOTP(nil, TOTPCode(nil, fixedNow), fixedNow, 0); ok {
		t.Error("an empty secret was accepted")
	}
}

// TestMFA05_Oathtool checks interoperability with oath-toolkit's oathtool,
// a separate implementation of RFC 6238.
func TestMFA05_Oathtool(t *testing.T) {
	path, err := exec.LookPath("oathtool")
	if err != nil {
		t.Skip("oathtool not on PATH (install it with `apt-get install -y oathtool`); skipping the interoperability check")
	}
	s, err := GenerateTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(path, args...)
		// The key goes on standard input ("-"), not on the command line.
		cmd.Stdin = strings.NewReader(EncodeSecret(s) + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("oathtool %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	code := run("--totp", "-b", "-")
	if step, ok := CheckTOTP(s, code, time.Now(), 0); !ok {
		t.Fatalf("oathtool's current code %q rejected (our step %d)", code, step)
	}
	at := time.Date(2009, 2, 13, 23, 31, 30, 0, time.UTC)
	if got, want := TOTPCode(s, at), run("--totp", "-b", "--now", "2009-02-13 23:31:30 UTC", "-"); got != want {
		t.Fatalf("at %v: TOTPCode %s, oathtool %s", at, got, want)
	}
}
