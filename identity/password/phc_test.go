package password

import (
	"strings"
	"testing"
)

const (
	salt16 = "c2FsdHNhbHRzYWx0c2FsdA"                      // 16 bytes
	key29  = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"     // 29 bytes
	key32b = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" // 32 bytes
)

func TestParseHashValid(t *testing.T) {
	for _, s := range []string{
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + key29,
		"$argon2id$v=19$m=128,t=10,p=16$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=262144,t=1,p=1$" + strings.Repeat("A", 86) + "$" + strings.Repeat("/", 85) + "w",
	} {
		h, err := ParseHash(s)
		if err != nil {
			t.Fatalf("ParseHash(%q): %v", s, err)
		}
		if got := h.String(); got != s {
			t.Fatalf("round trip:\n got %s\nwant %s", got, s)
		}
		if !pwd09.MatchString(s) {
			t.Fatalf("%q does not match PWD-09", s)
		}
		if int(h.Params.KeyLen) != len(h.Key) || int(h.Params.SaltLen) != len(h.Salt) {
			t.Fatalf("lengths %+v", h.Params)
		}
	}
	h, _ := ParseHash("$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b)
	if h.Params != DefaultParams {
		t.Fatalf("params %+v", h.Params)
	}
}

func TestParseHashInvalid(t *testing.T) {
	good := "$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b
	bad := []string{
		"",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16,
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2d$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=16$m=19456,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2id$m=19456,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$t=2,m=19456,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=019456,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=+19456,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=19456,t=02,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=19456,t=0,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=19456,t=2,p=0$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=7,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=19456,t=2,p=1,keyid=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=19456,t=2$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=,t=2,p=1$" + salt16 + "$" + key32b,
		"$argon2id$v=19$m=19456,t=2,p=1$$" + key32b,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "==$" + key32b,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b + "=",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b + "\n",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16[:10] + "\n" + salt16[10:] + "$" + key32b,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + "_" + key32b[1:],
		"$argon2id$v=19$m=19456,t=2,p=1$" + "c2FsdHNhbHRzYWx0c2FsdB" + "$" + key32b,    // non-canonical last char
		"$argon2id$v=19$m=19456,t=2,p=1$" + "c2FsdHNhbHRzYWx0" + "$" + key32b,          // 12-byte salt
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + "a2V5a2V5a2V5a2V5a2V5" + "", // 15-byte key
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b + "$extra",
		" " + good,
		good + " ",
		strings.ToUpper(good[:10]) + good[10:],
		good + strings.Repeat("A", 300),
	}
	for _, s := range bad {
		h, err := ParseHash(s)
		if err == nil {
			t.Errorf("ParseHash(%q) accepted: %+v", s, h)
			continue
		}
		wantCode(t, err, CodeHashInvalid)
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "$" + key32b)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + key29)
	f.Add("$argon2id$v=19$m=4194304,t=2,p=1$" + salt16 + "$" + key32b)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$" + salt16 + "==$" + key32b)
	f.Add("$argon2id$v=19$m=262144,t=10,p=16$" + strings.Repeat("A", 86) + "$" + strings.Repeat("/", 85) + "w")
	f.Add("$argon2i$v=19$m=1,t=1,p=1$AA$AA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			if h != nil {
				t.Fatal("hash and error")
			}
			return
		}
		if got := h.String(); got != s {
			t.Fatalf("round trip:\n got %q\nwant %q", got, s)
		}
		if !pwd09.MatchString(s) {
			t.Fatalf("accepted %q outside PWD-09", s)
		}
		if err := h.Params.Validate(); err != nil {
			t.Fatalf("accepted %q with invalid params: %v", s, err)
		}
		if int(h.Params.KeyLen) != len(h.Key) || int(h.Params.SaltLen) != len(h.Salt) {
			t.Fatalf("lengths %+v", h.Params)
		}
	})
}
