package web

import (
	"net/http"
	"time"

	"github.com/okpay/okpay/i18n"
)

// form is what a form page shows again after a failed submission: the
// values typed (never a password) and the errors, each next to its field
// and all together in a summary at the top.
type form struct {
	values  map[string]string
	errs    map[string]string
	order   []string // fields with an error, in the order they were set
	general string   // an error that belongs to no single field
}

// fieldError is one field's error as the templates show it.
type fieldError struct {
	Field   string // the input's id
	Message string
}

func newForm() *form { return &form{values: map[string]string{}, errs: map[string]string{}} }

// keep copies the named fields of the submitted form, so the page shows
// them again. Never keep a password.
func (f *form) keep(r *http.Request, names ...string) *form {
	for _, n := range names {
		f.values[n] = r.PostForm.Get(n)
	}
	return f
}

// set records the error of field (its input's id).
func (f *form) set(field, msg string) {
	if _, ok := f.errs[field]; !ok {
		f.order = append(f.order, field)
	}
	f.errs[field] = msg
}

// fail records an error that belongs to the whole form.
func (f *form) fail(msg string) { f.general = msg }

// Value returns the kept value of field.
func (f *form) Value(field string) string {
	if f == nil {
		return ""
	}
	return f.values[field]
}

// Has reports whether field has an error.
func (f *form) Has(field string) bool {
	if f == nil {
		return false
	}
	_, ok := f.errs[field]
	return ok
}

// Err returns the error of field, or "".
func (f *form) Err(field string) string {
	if f == nil {
		return ""
	}
	return f.errs[field]
}

// Field returns the error of field for the "fielderr" template.
func (f *form) Field(field string) fieldError {
	return fieldError{Field: field, Message: f.Err(field)}
}

// List returns the field errors in the order they were found.
func (f *form) List() []fieldError {
	if f == nil {
		return nil
	}
	out := make([]fieldError, 0, len(f.order))
	for _, k := range f.order {
		out = append(out, fieldError{Field: k, Message: f.errs[k]})
	}
	return out
}

// General returns the error that belongs to no single field.
func (f *form) General() string {
	if f == nil {
		return ""
	}
	return f.general
}

// Any reports whether the form has any error.
func (f *form) Any() bool { return f != nil && (f.general != "" || len(f.order) > 0) }

// toggle is the data of the password show/hide button ("pwtoggle").
type toggle struct {
	For, Show, Hide string
}

// Toggle returns the show/hide button for the password input with id.
func (p *page) Toggle(id string) toggle {
	return toggle{For: id, Show: p.T("account.password.show"), Hide: p.T("account.password.hide")}
}

// Time formats t in the reader's time zone for the page's language, with
// its offset: "25 Nov 2026, 16:00 UTC+8" or "2026年11月25日 16:00 UTC+8".
func (p *page) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(p.zone())
	if p.Lang == i18n.ZhCN {
		return t.Format("2006年1月2日 15:04") + " " + utcOffset(t)
	}
	return t.Format("2 Jan 2006, 15:04") + " " + utcOffset(t)
}

// ISO formats t for a <time datetime> attribute.
func (p *page) ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// retryText says, in the page's language, when to try again.
func (p *page) retryText(d time.Duration) string {
	switch {
	case d <= 0:
		return p.T("account.retry.later")
	case d < time.Minute:
		return p.T("account.retry.seconds")
	case d <= 90*time.Minute:
		n := int((d + time.Minute - 1) / time.Minute)
		if n == 1 {
			return p.T("account.retry.one_minute")
		}
		return p.T("account.retry.minutes", "Minutes", n)
	default:
		return p.T("account.retry.hours", "Hours", int((d+time.Hour-1)/time.Hour))
	}
}
