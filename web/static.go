package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

//go:embed static
var staticEmbed embed.FS

// staticCacheControl lets browsers keep static files for a year; the
// templates link them with a ?v=<content hash> query, so a changed file gets a
// new URL.
const staticCacheControl = "public, max-age=31536000, immutable"

type staticFiles struct {
	fsys   fs.FS
	hashes map[string]string // file name -> short content hash
}

func newStaticFiles() (*staticFiles, error) {
	sub, err := fs.Sub(staticEmbed, "static")
	if err != nil {
		return nil, err
	}
	sf := &staticFiles{fsys: sub, hashes: make(map[string]string)}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		sf.hashes[name] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	return sf, nil
}

// url returns /static/<name>?v=<hash>; an unknown name is an error, so a
// template that links a missing file fails its render test.
func (sf *staticFiles) url(name string) (string, error) {
	h, ok := sf.hashes[name]
	if !ok {
		return "", fmt.Errorf("web: no static file %q", name)
	}
	return "/static/" + (&url.URL{Path: name}).EscapedPath() + "?v=" + h, nil
}

// handler serves the embedded files under /static/. Directories and missing
// files get the HTML 404 page; no listing is ever shown.
func (sf *staticFiles) handler(s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		h, ok := sf.hashes[name]
		if !ok {
			s.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", staticCacheControl)
		w.Header().Set("ETag", `"`+h+`"`)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, sf.fsys, name)
	})
}
