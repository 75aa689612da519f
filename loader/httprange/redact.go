package httprange

import (
	"errors"
	"net/url"
	"strings"

	"github.com/stload/stload/loader"
)

// checkURL accepts http and https URLs and returns the name errors give
// the file (see Redact).
func checkURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue repeats the URL, credentials and all
		}
		return "", &loader.Error{File: Redact(rawURL), Detail: "not a URL", Cause: err}
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", &loader.Error{File: redact(u), Detail: "not an http:// or https:// URL"}
	}
	return redact(u), nil
}

// IsURL reports whether path is an http:// or https:// URL, which [Open]
// opens, rather than a file path. The scheme is case-insensitive (RFC 3986,
// 3.1): HTTP://host/x is a URL too.
func IsURL(path string) bool {
	return hasPrefixFold(path, "http://") || hasPrefixFold(path, "https://")
}

// hasPrefixFold is strings.HasPrefix, ignoring case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// indexFold is strings.Index for an ASCII substr, ignoring case; unlike
// an index into strings.ToLower(s), it is an index into s whatever
// characters s holds.
func indexFold(s, substr string) int {
	for i := 0; i+len(substr) <= len(s); i++ {
		if hasPrefixFold(s[i:], substr) {
			return i
		}
	}
	return -1
}

// Redact returns rawURL without what may hold a credential, for a
// message: the user information ("user:password@") and the fragment go,
// a query is shown as "?…" (a presigned URL's X-Amz-Signature, an
// Azure sig=, a token=), and so is every path segment that holds "=",
// which is how tokens ride in paths (";jsessionid=…", a CDN's
// "exp=…~hmac=…"). An opaque URL ("http:user:pw@host") shows only its
// scheme, and one that does not parse shows as "(an unparsable URL)".
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(an unparsable URL)"
	}
	return redact(u)
}

func redact(u *url.URL) string {
	v := *u
	v.User, v.Fragment, v.RawFragment, v.ForceQuery = nil, "", "", false
	if v.Opaque != "" {
		v.Opaque = "…"
	}
	query := ""
	if v.RawQuery != "" {
		query = "?…"
	}
	segs := strings.Split(v.EscapedPath(), "/")
	for i, s := range segs {
		if strings.Contains(s, "=") || strings.Contains(strings.ToUpper(s), "%3D") {
			segs[i] = "…"
		}
	}
	v.Path, v.RawPath, v.RawQuery = "", "", ""
	return v.String() + strings.Join(segs, "/") + query
}

// scrub returns err, or when its message holds a URL (a redirect's
// Location, say), an error that says the same with the URL redacted and
// wraps err.
func scrub(err error) error {
	msg := err.Error()
	if s := redactText(msg); s != msg {
		return &scrubbed{msg: s, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// redactText redacts every http:// or https:// URL in s, in any case,
// taken to end at a space or a quote.
func redactText(s string) string {
	var b strings.Builder
	for {
		i := indexFold(s, "http://")
		if j := indexFold(s, "https://"); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := strings.IndexAny(s[i:], " \t\r\n\"'`<>")
		if end < 0 {
			end = len(s) - i
		}
		b.WriteString(s[:i])
		b.WriteString(Redact(s[i : i+end]))
		s = s[i+end:]
	}
}
