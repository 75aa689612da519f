package device

import (
	"encoding/xml"
	"strings"
	"testing"
)

// TestEscapeText checks that tensor names, which come from files, always
// make well-formed SVG text.
func TestEscapeText(t *testing.T) {
	for _, s := range []string{"plain", `a<b>&"c"'d`, "ctl\x00\x01\x1f", "tab\tnl\n", "\uFFFE\uFFFF", "ünï"} {
		doc := "<text>" + escapeText(s) + "</text>"
		var got string
		if err := xml.Unmarshal([]byte(doc), &got); err != nil {
			t.Errorf("escapeText(%q) = %q: not XML: %v", s, doc, err)
			continue
		}
		want := strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
				return '\uFFFD'
			}
			return r
		}, s)
		if got != want {
			t.Errorf("escapeText(%q) reads back as %q, want %q", s, got, want)
		}
	}
}
