package desk

import (
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/okpay/okpay"
)

// AttachmentInput is a file sent with a message.
type AttachmentInput struct {
	// Name is the file name as the client gave it; only its last path
	// element is kept, cleaned (CleanLine).
	Name string
	// ContentType is the type the client declared; empty means the type
	// of the name's extension.
	ContentType string
	Data        []byte
}

// attachmentType is one accepted file type.
type attachmentType struct {
	exts []string
	// sniffed reports whether http.DetectContentType's answer (and the
	// data) agree with the type.
	sniffed func(detected string, data []byte) bool
}

func sniffedAs(want string) func(string, []byte) bool {
	return func(detected string, _ []byte) bool { return detected == want }
}

// attachmentTypes is the allowlist. SVG, HTML and anything scriptable are
// not on it: a file is never shown inline as what it claims to be unless
// its bytes say so.
var attachmentTypes = map[string]attachmentType{
	"image/png":       {exts: []string{".png"}, sniffed: sniffedAs("image/png")},
	"image/jpeg":      {exts: []string{".jpg", ".jpeg"}, sniffed: sniffedAs("image/jpeg")},
	"image/gif":       {exts: []string{".gif"}, sniffed: sniffedAs("image/gif")},
	"image/webp":      {exts: []string{".webp"}, sniffed: sniffedAs("image/webp")},
	"application/pdf": {exts: []string{".pdf"}, sniffed: sniffedAs("application/pdf")},
	// Plain text must be UTF-8 all the way through (the sniffer reads only
	// the first 512 bytes) and must not look like markup.
	"text/plain": {exts: []string{".txt"}, sniffed: func(detected string, data []byte) bool {
		return detected == "text/plain; charset=utf-8" && utf8.Valid(data) && !strings.ContainsRune(string(data), 0)
	}},
}

// AttachmentTypes lists the accepted content types.
func AttachmentTypes() []string {
	return []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
}

// maxAttachmentName caps a file name, in bytes.
const maxAttachmentName = 200

// ValidateAttachment checks a file against the allowlist: the extension of
// its name, its declared type and its content as sniffed by
// http.DetectContentType must all name the same accepted type, and its
// size must be 1..maxBytes. It returns the file with a clean name and the
// canonical type, or an error with code EAttachmentRefused.
func ValidateAttachment(in AttachmentInput, maxBytes int64) (AttachmentInput, error) {
	refuse := func(msg string) (AttachmentInput, error) {
		return AttachmentInput{}, okpay.Errorf(EAttachmentRefused, "%s", msg)
	}
	name := in.Name
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = CleanLine(name)
	ext := strings.ToLower(path.Ext(name))
	if name == "" || name == ext {
		return refuse("The file needs a name, such as receipt.png.")
	}
	declared := strings.ToLower(strings.TrimSpace(in.ContentType))
	if declared != "" {
		mt, params, err := mime.ParseMediaType(declared)
		if err != nil {
			return refuse("The file's type is not readable.")
		}
		if cs, ok := params["charset"]; ok && mt == "text/plain" && cs != "utf-8" {
			return refuse("Text files must be in UTF-8.")
		}
		declared = mt
		if declared == "image/jpg" || declared == "image/pjpeg" {
			declared = "image/jpeg"
		}
	}
	var typ string
	for t, at := range attachmentTypes {
		for _, e := range at.exts {
			if e == ext {
				typ = t
			}
		}
	}
	if typ == "" {
		return refuse("Only PNG, JPEG, GIF and WebP images, PDF documents and plain-text files can be attached.")
	}
	if len(name) > maxAttachmentName {
		// The extension is an accepted one: a few bytes.
		suffix := name[len(name)-len(ext):]
		base := name[:len(name)-len(ext)]
		keep := maxAttachmentName - len(suffix)
		for keep > 0 && !utf8.RuneStart(base[keep]) {
			keep--
		}
		name = base[:keep] + suffix
	}
	if declared != "" && declared != typ {
		return refuse("The file's type does not match its name.")
	}
	if len(in.Data) == 0 {
		return refuse("The file is empty.")
	}
	if int64(len(in.Data)) > maxBytes {
		return refuse("The file is too large.")
	}
	if !attachmentTypes[typ].sniffed(http.DetectContentType(in.Data), in.Data) {
		return refuse("The file's content is not what its name says.")
	}
	return AttachmentInput{Name: name, ContentType: typ, Data: in.Data}, nil
}
