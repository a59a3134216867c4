package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Member names are case-sensitive, and a member comes once. encoding/json
// matches an object member to a field without regard to case ("AMOUNT"
// fills amount) and lets a repeated member overwrite the first, so a
// client that misspells a name's case, or sends a field twice, would be
// served as if it had not. misnamed walks the body beside v's type, before
// it is decoded, and describes the first member whose name equals a
// field's only without regard to case, or that repeats a field ("" when
// none). Values a type decodes itself (json.Unmarshaler: money amounts,
// which check the same) and members of maps are not looked into.
func misnamed(body []byte, v any) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	msg, _ := walkNames(dec, reflect.TypeOf(v))
	return msg
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walkNames reads one value from dec, of type t (nil: any value, not
// looked into). It stops at the first misnamed or repeated member, or at
// a syntax error (ok false: decode reports it).
func walkNames(dec *json.Decoder, t reflect.Type) (msg string, ok bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)) {
		t = nil // decodes itself
	}
	tok, err := dec.Token()
	if err != nil {
		return "", false
	}
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		return "", true
	}
	switch d {
	case '{':
		var fields map[string]reflect.Type
		var names []string
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields, names = structNames(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		var seen map[string]bool
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", false
			}
			key, _ := k.(string)
			ft := elem
			if fields != nil {
				var exact bool
				if ft, exact = fields[key]; !exact {
					// encoding/json's folding is Unicode's simple case
					// folding (the Kelvin sign is a k, ſ an s), as EqualFold.
					for _, w := range names {
						if strings.EqualFold(key, w) {
							return fmt.Sprintf("unknown field %q (names are case-sensitive: %q)", key, w), true
						}
					}
				} else {
					if seen[key] {
						return fmt.Sprintf("field %q appears twice", key), true
					}
					if seen == nil {
						seen = map[string]bool{}
					}
					seen[key] = true
				}
			}
			if msg, ok := walkNames(dec, ft); msg != "" || !ok {
				return msg, ok
			}
		}
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if msg, ok := walkNames(dec, elem); msg != "" || !ok {
				return msg, ok
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return "", false
	}
	return "", true
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
