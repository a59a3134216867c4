// Package visitorcookie is the chat visitor's cookie, shared by the JSON
// API (which gives a visitor one with their first conversation) and the
// pages (a visitor's email link that moves a conversation to the browser
// that opens it): a random token in an HttpOnly __Host- cookie, of which
// the desk keeps only a hash (ID), and a readable marker that tells the
// widget's script the browser has visitor conversations.
package visitorcookie

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

const (
	// Name carries a visitor's token (32 random bytes, base64url).
	Name = "__Host-visitor"
	// MarkerName ("1") tells the web app's script, which cannot read the
	// HttpOnly token cookie, that this browser has visitor conversations.
	// It holds no secret.
	MarkerName = "__Host-chat"
	// MaxAge is both cookies' lifetime, in seconds (30 days).
	MaxAge = 30 * 24 * 60 * 60
)

// Token returns the request's visitor token, if it has a valid one.
func Token(r *http.Request) string {
	ck, err := r.Cookie(Name)
	if err != nil || len(ck.Value) != 43 {
		return ""
	}
	if b, err := base64.RawURLEncoding.DecodeString(ck.Value); err != nil || len(b) != 32 {
		return ""
	}
	return ck.Value
}

// ID is the desk's name of the visitor holding token: a hash of it, so
// the database never holds the credential itself.
func ID(token string) string {
	sum := sha256.Sum256([]byte("okpay desk visitor\x00" + token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// New returns a new random token.
func New() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Set gives the browser token and the marker.
func Set(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: Name, Value: token, Path: "/", MaxAge: MaxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: MarkerName, Value: "1", Path: "/", MaxAge: MaxAge,
		Secure: true, SameSite: http.SameSiteLaxMode})
}

// Clear removes both cookies.
func Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: Name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: MarkerName, Value: "", Path: "/", MaxAge: -1, Secure: true, SameSite: http.SameSiteLaxMode})
}
