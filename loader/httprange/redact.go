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

// scrub returns err, or when its message holds a URL with what may be a
// credential (a redirect's Location, say), an error that says the same
// with the URL redacted (RedactText) and wraps err.
func scrub(err error) error {
	msg := err.Error()
	if s := RedactText(msg); s != msg {
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

// RedactText returns a message with every URL-looking word in it that
// may hold a credential redacted as [Redact] does: user information and
// fragment dropped, a query shown as "?…", path segments holding '=' as
// "…". A word is URL-looking when it starts with a scheme of two or more
// letters (in any case, and not only http: "ftp://user:pw@host/x" is a
// file name to [Open], which os errors repeat) and ":/" (a path function
// may have joined the slashes: "http:/user:pw@host"), or is an opaque
// http(s) URL ("http:user:pw@host"). It ends at a space or a quote, less
// a colon or comma that ends it ("open URL: EOF"). Words with nothing to
// hide, and the rest of the message, are left as they are.
func RedactText(s string) string {
	var b strings.Builder
	for {
		i, j := nextURLWord(s)
		if i < 0 {
			if b.Len() == 0 {
				return s
			}
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(redactWord(s[i:j]))
		s = s[j:]
	}
}

// nextURLWord returns where the first URL-looking word of s starts and
// ends, or -1, -1.
func nextURLWord(s string) (int, int) {
	for k := 0; k < len(s); k++ {
		if s[k] != ':' {
			continue
		}
		i := k
		for i > 0 && isSchemeChar(s[i-1]) {
			i--
		}
		for i < k && !isLetter(s[i]) {
			i++ // a scheme starts with a letter
		}
		scheme, rest := s[i:k], s[k+1:]
		if len(scheme) < 2 || !(strings.HasPrefix(rest, "/") || isHTTP(scheme) && rest != "" && !isWordEnd(rest[0])) {
			continue
		}
		j := k + 1
		for j < len(s) && !isWordEnd(s[j]) {
			j++
		}
		for j > k+1 && (s[j-1] == ':' || s[j-1] == ',') {
			j-- // "URL: message": the colon is the message's
		}
		return i, j
	}
	return -1, -1
}

// redactWord redacts one URL-looking word: SCHEME:/BODY, SCHEME://BODY or
// an opaque http(s) URL.
func redactWord(w string) string {
	scheme, rest, _ := strings.Cut(w, ":")
	body := strings.TrimLeft(rest, "/")
	if !strings.ContainsAny(body, "@?#=") && !strings.Contains(strings.ToUpper(body), "%3D") {
		return w // nothing that may be a credential
	}
	if body == rest { // opaque: "http:user:pw@host"
		return Redact(w)
	}
	return Redact(strings.ToLower(scheme) + "://" + body)
}

// isHTTP reports whether a scheme is http or https, in any case.
func isHTTP(scheme string) bool {
	return strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isSchemeChar reports whether c may be in a URL scheme (RFC 3986, 3.1).
func isSchemeChar(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// isWordEnd reports whether c ends a URL-looking word in a message.
func isWordEnd(c byte) bool { return strings.IndexByte(" \t\r\n\"'`<>", c) >= 0 }
