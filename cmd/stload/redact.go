package main

import (
	"strings"

	"github.com/stload/stload/loader/httprange"
)

// Secrets in what stload prints. The loader redacts the URLs it opens
// (httprange.Redact), but a command line also holds arguments that look
// like URLs and are not opened as such: an OUT of convert, a scheme other
// than http(s) ("ftp://user:pw@host/x" is a file name to the loader),
// and the paths made from them ("http:/user:pw@host" once filepath.Clean
// has joined the slashes), which os errors repeat. Every message stload
// prints about its arguments goes through redact, so that none of them
// shows a password or a token.

// redact returns s with every URL-looking word in it that may hold a
// credential redacted as httprange.Redact does: user information and
// fragment dropped, a query shown as "?…", path segments holding '='
// as "…". A word is URL-looking when it starts with a scheme of two or
// more letters (in any case) and ":/", or is an opaque http(s) URL
// ("http:user:pw@host"); it ends at a space or a quote, less a colon or
// comma that ends it ("open URL: EOF"). Words with
// nothing to hide are left as they are.
func redact(s string) string {
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
		return httprange.Redact(w)
	}
	return httprange.Redact(strings.ToLower(scheme) + "://" + body)
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

// isWordEnd reports whether c ends a URL-looking word in a message, as
// it ends one for httprange's redaction of messages.
func isWordEnd(c byte) bool { return strings.IndexByte(" \t\r\n\"'`<>", c) >= 0 }

// looksLikeURL reports whether an argument is written as a URL of some
// scheme ("http://", "s3://"; two or more letters, so not a drive "C:/").
func looksLikeURL(arg string) bool {
	i, _ := nextURLWord(arg)
	return i == 0 && strings.Contains(arg, "://")
}
