package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/okpay/okpay/money"
)

// Reading a request body beside its Go type, for what encoding/json does
// not say.
//
// Member names are case-sensitive, and a member comes once. encoding/json
// matches an object member to a field without regard to case ("AMOUNT"
// fills amount) and lets a repeated member overwrite the first, so a
// client that misspells a name's case, or sends a field twice, would be
// served as if it had not. misnamed, run before decoding, describes the
// first member whose name equals a field's only without regard to case,
// or that repeats a field ("" when none).
//
// A refused amount's place. A money amount decodes itself
// (money.Amount.UnmarshalJSON) and encoding/json returns its error as it
// is: the problem said what is wrong (too_many_decimals, …) but not which
// member, and a request may hold several amounts (a ledger entry's
// postings). When decoding fails on an amount, amountPath finds the first
// amount money refuses, and the problem names it in "errors" ("amount",
// "postings[1].amount"), as a validation error does.
//
// Values a type decodes itself (json.Unmarshaler: money amounts, which
// check their own names) and members of maps are not looked into.

// misnamed runs on every request body, so a body without escapes (nearly
// all) is read by scanNames, which allocates nothing; one with escapes by
// the token walker, which unescapes names as encoding/json does.
func misnamed(body []byte, v any) string {
	t := reflect.TypeOf(v)
	if bytes.IndexByte(body, '\\') < 0 {
		sc := nameScanner{b: body}
		if msg, ok := sc.value(t); ok {
			return msg
		}
		return "" // not valid JSON: decode says so
	}
	return walkBody(body, t, true)
}

// amountPath returns the path of the first amount in body, decoded as v,
// that money refuses ("" when none is found).
func amountPath(body []byte, v any) string { return walkBody(body, reflect.TypeOf(v), false) }

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	amountType          = reflect.TypeFor[money.Amount]()
)

// target is the type a value is read into: pointers followed; nil for a
// type that decodes itself (or for no type: not looked into), except a
// money amount when keepAmount.
func target(t reflect.Type, keepAmount bool) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || keepAmount && t == amountType {
		return t
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return nil
	}
	return t
}

// members returns the fields of struct type t as walkers read them (nil
// for anything else).
func members(t reflect.Type) (map[string]reflect.Type, []string) {
	if t != nil && t.Kind() == reflect.Struct {
		return structNames(t)
	}
	return nil, nil
}

// elemOf is the type of t's elements when t is a slice, array or map.
func elemOf(t reflect.Type, kinds ...reflect.Kind) reflect.Type {
	if t == nil {
		return nil
	}
	for _, k := range kinds {
		if t.Kind() == k {
			return t.Elem()
		}
	}
	return nil
}

// nameProblem describes member key of an object whose fields and names
// are given, having seen seen before it ("" when it is fine).
func nameProblem(key string, fields map[string]reflect.Type, names []string, repeated bool) string {
	if _, exact := fields[key]; exact {
		if repeated {
			return fmt.Sprintf("field %q appears twice", key)
		}
		return ""
	}
	// encoding/json's folding is Unicode's simple case folding (the
	// Kelvin sign is a k, ſ an s), as EqualFold.
	for _, w := range names {
		if strings.EqualFold(key, w) {
			return fmt.Sprintf("unknown field %q (names are case-sensitive: %q)", key, w)
		}
	}
	return ""
}

// walkBody reads body with a token decoder beside type t: in names mode it
// returns misnamed's answer, else amountPath's. A syntax error ends it
// with "" (decode reports it).
func walkBody(body []byte, t reflect.Type, names bool) string {
	w := bodyWalker{dec: json.NewDecoder(bytes.NewReader(body)), names: names}
	w.dec.UseNumber()
	found, _ := w.value(t, "")
	return found
}

type bodyWalker struct {
	dec   *json.Decoder
	names bool // check member names; else look for a refused amount
}

// value reads one value of type t at path; ok is false on a syntax error.
func (w *bodyWalker) value(t reflect.Type, path string) (found string, ok bool) {
	t = target(t, !w.names)
	if t == amountType {
		var raw json.RawMessage
		if err := w.dec.Decode(&raw); err != nil {
			return "", false
		}
		var a money.Amount
		if string(raw) != "null" && a.UnmarshalJSON(raw) != nil {
			return path, true
		}
		return "", true
	}
	tok, err := w.dec.Token()
	if err != nil {
		return "", false
	}
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		return "", true
	}
	switch d {
	case '{':
		fields, names := members(t)
		elem := elemOf(t, reflect.Map)
		var seen map[string]bool
		for w.dec.More() {
			k, err := w.dec.Token()
			if err != nil {
				return "", false
			}
			key, _ := k.(string)
			ft := elem
			if fields != nil {
				ft = fields[key]
				if w.names {
					if msg := nameProblem(key, fields, names, seen[key]); msg != "" {
						return msg, true
					}
					if seen == nil {
						seen = map[string]bool{}
					}
					seen[key] = true
				}
			}
			sub := ""
			if !w.names {
				if sub = key; path != "" {
					sub = path + "." + key
				}
			}
			if found, ok := w.value(ft, sub); found != "" || !ok {
				return found, ok
			}
		}
	case '[':
		elem := elemOf(t, reflect.Slice, reflect.Array)
		for i := 0; w.dec.More(); i++ {
			sub := ""
			if !w.names {
				sub = path + "[" + strconv.Itoa(i) + "]"
			}
			if found, ok := w.value(elem, sub); found != "" || !ok {
				return found, ok
			}
		}
	}
	if _, err := w.dec.Token(); err != nil { // the closing delimiter
		return "", false
	}
	return "", true
}

// nameScanner is misnamed's reader of a body without escapes: it walks
// the bytes beside the type, comparing member names in place. ok is false
// when the text is not JSON it follows (decode reports it).
type nameScanner struct {
	b []byte
	i int
}

func (s *nameScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// after reads what follows a member or an element: close ends its object
// or array (done), a comma another follows; anything else is not JSON.
func (s *nameScanner) after(close byte) (done, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case close:
		s.i++
		return true, true
	case ',':
		s.i++
		return false, true
	}
	return false, false
}

// str reads a string (no escapes here) and returns its contents.
func (s *nameScanner) str() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(s.b[s.i+1:], '"')
	if end < 0 {
		return nil, false
	}
	v := s.b[s.i+1 : s.i+1+end]
	s.i += end + 2
	return v, true
}

func (s *nameScanner) value(t reflect.Type) (string, bool) {
	t = target(t, false)
	s.space()
	if s.i >= len(s.b) {
		return "", false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return "", ok
	case '{':
		s.i++
		fields, names := members(t)
		elem := elemOf(t, reflect.Map)
		var seenBuf [16][]byte
		seen := seenBuf[:0]
		for first := true; ; first = false {
			s.space()
			if first && s.i < len(s.b) && s.b[s.i] == '}' {
				s.i++
				return "", true
			}
			key, ok := s.str()
			if !ok {
				return "", false
			}
			ft := elem
			if fields != nil {
				ft = fields[string(key)]
				repeated := false
				for _, k := range seen {
					if bytes.Equal(k, key) {
						repeated = true
						break
					}
				}
				if _, exact := fields[string(key)]; !exact || repeated {
					if msg := nameProblem(string(key), fields, names, repeated); msg != "" {
						return msg, true
					}
				}
				seen = append(seen, key)
			}
			s.space()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return "", false
			}
			s.i++
			if msg, ok := s.value(ft); msg != "" || !ok {
				return msg, ok
			}
			if done, ok := s.after('}'); done || !ok {
				return "", ok
			}
		}
	case '[':
		s.i++
		elem := elemOf(t, reflect.Slice, reflect.Array)
		for first := true; ; first = false {
			s.space()
			if first && s.i < len(s.b) && s.b[s.i] == ']' {
				s.i++
				return "", true
			}
			if msg, ok := s.value(elem); msg != "" || !ok {
				return msg, ok
			}
			if done, ok := s.after(']'); done || !ok {
				return "", ok
			}
		}
	default: // a number or a literal: up to the next delimiter
		start := s.i
		for s.i < len(s.b) && !strings.ContainsRune(",}] \t\n\r", rune(s.b[s.i])) {
			s.i++
		}
		return "", s.i > start
	}
}

// structNames returns the member names of struct type t as encoding/json
// reads them (tag name, else the field's name; embedded structs' fields
// promoted), with their types, and the names in field order.
func structNames(t reflect.Type) (map[string]reflect.Type, []string) {
	if c, ok := nameCache.Load(t); ok {
		n := c.(structNameSet)
		return n.fields, n.names
	}
	n := structNameSet{fields: map[string]reflect.Type{}}
	var add func(t reflect.Type, depth int)
	add = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct && depth < 4 {
					add(et, depth+1)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := n.fields[name]; !dup {
				n.fields[name] = ft
				n.names = append(n.names, name)
			}
		}
	}
	add(t, 0)
	nameCache.Store(t, n)
	return n.fields, n.names
}

type structNameSet struct {
	fields map[string]reflect.Type
	names  []string
}

// nameCache keeps structNames per type (request types are few and fixed).
var nameCache sync.Map
