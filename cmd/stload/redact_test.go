package main

import (
	"strings"
	"testing"
)

// TestRedact: URL-looking words lose what may be a credential, whatever
// their scheme, its case, or how a path function rewrote them; the rest
// of a message stays as it is.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"open http://alice:hunter2@h/x.safetensors?token=hunter2: EOF", "open http://h/x.safetensors?…: EOF"},
		{"HTTP://u:hunter2@127.0.0.1:8712/m.safetensors: open: no such file", "http://127.0.0.1:8712/m.safetensors: open: no such file"},
		{`OUT "Https://h/x.json?sig=hunter2" ends in .json`, `OUT "https://h/x.json?…" ends in .json`},
		{"directory http:/alice:hunter2@h does not exist", "directory http://h does not exist"},
		{"open ftp://alice:hunter2@h/x: no such file", "open ftp://h/x: no such file"},
		{"s3://bucket/x?X-Amz-Signature=hunter2", "s3://bucket/x?…"},
		{"open http:alice:hunter2@h/x: no such file", "open http:…: no such file"},
		{"https://h/a/exp=1~hmac=hunter2/m", "https://h/a/…/m"},
		{"x.safetensors: tensor \"a\": InvalidOffset: offsets [0, 2]", "x.safetensors: tensor \"a\": InvalidOffset: offsets [0, 2]"},
		{"C:/models/a@b.safetensors", "C:/models/a@b.safetensors"},
		{"https://huggingface.co/org/m/resolve/main/model.safetensors", "https://huggingface.co/org/m/resolve/main/model.safetensors"},
		{"key: value=1", "key: value=1"},
		{"", ""},
	} {
		got := redact(tc.in)
		if got != tc.want {
			t.Errorf("redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "hunter2") {
			t.Errorf("redact(%q) keeps the secret", tc.in)
		}
	}
}
