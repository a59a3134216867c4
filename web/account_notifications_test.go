package web

import (
	"reflect"
	"testing"
)

// TestNoteParts: paths of the account's own pages in a notification
// become links, alone or after this site's address; anything else stays
// text.
func TestNoteParts(t *testing.T) {
	re := noteLinkRE("https://okpay.example/")
	for _, c := range []struct {
		body string
		want []notePart
	}{
		{"Nothing to link.", []notePart{{Text: "Nothing to link."}}},
		{"Open /account/phone-verify/pvc_ab12 (signed in) to see the code.", []notePart{
			{Text: "Open "}, {Text: "/account/phone-verify/pvc_ab12", Href: "/account/phone-verify/pvc_ab12"}, {Text: " (signed in) to see the code."}}},
		{"请打开 /account/phone-verify/pvc_x9。", []notePart{
			{Text: "请打开 "}, {Text: "/account/phone-verify/pvc_x9", Href: "/account/phone-verify/pvc_x9"}, {Text: "。"}}},
		{"/account/security first", []notePart{{Text: "/account/security", Href: "/account/security"}, {Text: " first"}}},
		{"See https://evil.example/account/x now", []notePart{{Text: "See https://evil.example/account/x now"}}},
		{"a//account/x and x/account/y", []notePart{{Text: "a//account/x and x/account/y"}}},
		{"go /account/x/../../admin", []notePart{{Text: "go "}, {Text: "/account/x", Href: "/account/x"}, {Text: "/../../admin"}}},
		{`"/account/a"onclick="x"`, []notePart{{Text: `"`}, {Text: "/account/a", Href: "/account/a"}, {Text: `"onclick="x"`}}},
		{"freeze your account now:\nhttps://okpay.example/account/freeze", []notePart{{Text: "freeze your account now:\n"},
			{Text: "https://okpay.example/account/freeze", Href: "/account/freeze"}}},
		{"立即冻结账户：https://okpay.example/account/freeze。", []notePart{{Text: "立即冻结账户："},
			{Text: "https://okpay.example/account/freeze", Href: "/account/freeze"}, {Text: "。"}}},
		{"a://account/x", []notePart{{Text: "a://account/x"}}},
		{"(https://okpay.example/account/freeze)", []notePart{{Text: "("}, {Text: "https://okpay.example/account/freeze", Href: "/account/freeze"}, {Text: ")"}}},
		{"https://okpay.example.evil.test/account/freeze x", []notePart{{Text: "https://okpay.example.evil.test/account/freeze x"}}},
		{"http://okpay.example/account/freeze", []notePart{{Text: "http://okpay.example/account/freeze"}}},
		{"https://okpay.example/help/x", []notePart{{Text: "https://okpay.example/help/x"}}},
	} {
		if got := noteParts(re, c.body); !reflect.DeepEqual(got, c.want) {
			t.Errorf("noteParts(%q) = %#v, want %#v", c.body, got, c.want)
		}
	}
}

// FuzzNoteParts: the parts always put the body back together, and every
// link is a path under /account/ without a way out of it.
func FuzzNoteParts(f *testing.F) {
	f.Add("Open /account/phone-verify/pvc_ab12 (signed in).")
	f.Add("/account/../x //account/y")
	f.Add("now: https://okpay.example/account/freeze")
	re := noteLinkRE("https://okpay.example")
	f.Fuzz(func(t *testing.T, body string) {
		var joined string
		for _, p := range noteParts(re, body) {
			joined += p.Text
			if p.Href != "" && ((p.Href != p.Text && "https://okpay.example"+p.Href != p.Text) || len(p.Href) < len("/account/x") || p.Href[:9] != "/account/" || containsDotDot(p.Href)) {
				t.Fatalf("bad link %q in %q", p.Href, body)
			}
		}
		if joined != body {
			t.Fatalf("parts give %q, want %q", joined, body)
		}
	})
}

func containsDotDot(p string) bool {
	for i := 0; i+1 < len(p); i++ {
		if p[i] == '.' && p[i+1] == '.' {
			return true
		}
	}
	return false
}
