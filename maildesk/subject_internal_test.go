package maildesk

import (
	"testing"

	"github.com/okpay/okpay/desk"
	"github.com/okpay/okpay/ids"
)

// TestSubjectReferences: the reference that threads a mail is the
// subject's last one, and an answer carries only its own conversation's:
// a follow-up of a closed conversation was answered "… [old] [new]", and
// a reply with that subject (no In-Reply-To) went by the first, old one,
// into a third conversation.
func TestSubjectReferences(t *testing.T) {
	old, follow := ids.Format(desk.ConversationPrefix, 1001), ids.Format(desk.ConversationPrefix, 2002)
	for subject, want := range map[string]int64{
		"Re: Card declined [" + old + "]":                  1001,
		"Re: Card declined [" + old + "] [" + follow + "]": 2002,
		"Re: Card declined [" + old + "] [cnv_not!valid]":  1001,
		"Card declined": 0,
		"Re: [" + follow + "] Card declined [" + old + "] ...": 1001,
	} {
		got, ok := subjectRef(subject)
		if got != want || ok != (want != 0) {
			t.Errorf("subjectRef(%q) = %d, %v; want %d", subject, got, ok, want)
		}
	}
	for _, tc := range []struct{ subject, ref, want string }{
		{"Card declined", follow, "Re: Card declined [" + follow + "]"},
		{"Re: Card declined [" + old + "]", follow, "Re: Card declined [" + follow + "]"},
		{"RE: Card declined [" + follow + "]", follow, "Re: Card declined [" + follow + "]"},
		{"Re: Card [" + old + "] declined [" + follow + "]", follow, "Re: Card declined [" + follow + "]"},
	} {
		if got := replySubject(tc.subject, tc.ref); got != tc.want {
			t.Errorf("replySubject(%q, %s) = %q, want %q", tc.subject, tc.ref, got, tc.want)
		}
		if id, _ := subjectRef(replySubject(tc.subject, tc.ref)); ids.Format(desk.ConversationPrefix, id) != tc.ref {
			t.Errorf("the answer to %q threads to %d, not %s", tc.subject, id, tc.ref)
		}
	}
}
