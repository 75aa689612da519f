package httprange

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRedact: what may hold a secret never survives Redact.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://huggingface.co/org/m/resolve/main/model.safetensors", "https://huggingface.co/org/m/resolve/main/model.safetensors"},
		{"https://user:hunter2@host/x", "https://host/x"},
		{"https://token@host/x", "https://host/x"},
		{"https://host/x?token=hunter2", "https://host/x?…"},
		{"https://host/x?X-Amz-Signature=hunter2&X-Amz-Credential=AKIA", "https://host/x?…"},
		{"https://host/x?sig=hunter2&se=2030", "https://host/x?…"},
		{"https://host/x?signature=hunter2", "https://host/x?…"},
		{"https://host/x?alt=media&key=hunter2", "https://host/x?…"},
		{"https://host/x?api_key=hunter2", "https://host/x?…"},
		{"https://host/x?access_token=hunter2", "https://host/x?…"},
		{"https://host/api_key=hunter2/x", "https://host/…/x"},
		{"https://host/x?", "https://host/x"},
		{"https://host/x#access_token=hunter2", "https://host/x"},
		{"https://host/a;jsessionid=hunter2/b", "https://host/…/b"},
		{"https://host/__token__/exp=1~hmac=hunter2/model.safetensors", "https://host/__token__/…/model.safetensors"},
		{"https://host/x%3Ftoken=hunter2", "https://host/…"},
		{"https://host/a%20b/c", "https://host/a%20b/c"},
		{"http:user:hunter2@host/x", "http:…"},
		{"https://user:hunter2@host/%zz", "(an unparsable URL)"},
		{"https://host:8443/x", "https://host:8443/x"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(Redact(tc.in), "hunter2") {
			t.Errorf("Redact(%q) keeps the secret", tc.in)
		}
	}
}

// TestIsURL: http and https URLs in any case are URLs, nothing else is.
func TestIsURL(t *testing.T) {
	for in, want := range map[string]bool{
		"http://h/x": true, "https://h/x": true, "HTTP://u:pw@h/x": true, "Https://h/x": true, "hTtPs://h": true,
		"http:/h/x": false, "ftp://h/x": false, "model.safetensors": false, "http": false, "": false, "/http://h": false,
	} {
		if got := IsURL(in); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestRedactText: URL-looking words in a message lose what may be a
// credential, whatever their scheme, its case, or how a path function
// rewrote them; the rest of the message, and words with nothing to hide,
// stay as they are.
func TestRedactText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"get http://u:hunter2@h/x: EOF", "get http://h/x: EOF"},
		{"get HTTP://u:hunter2@h/x: EOF", "get http://h/x: EOF"},
		{`"Https://h/x?sig=hunter2" and https://h/y?token=hunter2`, `"https://h/x?…" and https://h/y?…`},
		{"İİ HTTP://u:hunter2@h/x", "İİ http://h/x"}, // ToLower would move the URL
		{"open http://alice:hunter2@h/x.safetensors?token=hunter2: EOF", "open http://h/x.safetensors?…: EOF"},
		{"HTTP://u:hunter2@127.0.0.1:8712/m.safetensors: open: no such file", "http://127.0.0.1:8712/m.safetensors: open: no such file"},
		{`OUT "Https://h/x.json?sig=hunter2" ends in .json`, `OUT "https://h/x.json?…" ends in .json`},
		{"a http://u:hunter2@h/x, b https://h/y?k=hunter2,", "a http://h/x, b https://h/y?…,"},
		{"directory http:/alice:hunter2@h does not exist", "directory http://h does not exist"},
		{"open ftp://alice:hunter2@h/x: no such file", "open ftp://h/x: no such file"},
		{"s3://bucket/x?X-Amz-Signature=hunter2", "s3://bucket/x?…"},
		{"open http:alice:hunter2@h/x: no such file", "open http:…: no such file"},
		{"https://h/a/exp=1~hmac=hunter2/m", "https://h/a/…/m"},
		{"https://h/a/x%3Dhunter2/m", "https://h/a/…/m"},
		{"x.safetensors: tensor \"a\": InvalidOffset: offsets [0, 2]", "x.safetensors: tensor \"a\": InvalidOffset: offsets [0, 2]"},
		{"C:/models/a@b.safetensors", "C:/models/a@b.safetensors"},
		{"HTTPS://huggingface.co/org/m/resolve/main/model.safetensors", "HTTPS://huggingface.co/org/m/resolve/main/model.safetensors"},
		{"key: value=1", "key: value=1"},
		{"no URL here", "no URL here"},
		{"", ""},
	} {
		got := RedactText(tc.in)
		if got != tc.want {
			t.Errorf("RedactText(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "hunter2") {
			t.Errorf("RedactText(%q) keeps the secret", tc.in)
		}
	}
}

// TestRedactedCauses: a redirect to a URL that cannot be followed puts
// that URL, query and all, in the client's error; the error returned
// does not repeat it.
func TestRedactedCauses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bad":
			w.Header().Set("Location", "https://user:hunter2@cdn.invalid/x%zz?X-Amz-Signature=hunter2")
		case "/dead":
			w.Header().Set("Location", "http://127.0.0.1:1/x?X-Amz-Signature=hunter2")
		}
		w.WriteHeader(http.StatusFound)
	}))
	defer srv.Close()
	for _, path := range []string{"/bad", "/dead"} {
		_, err := Open(remoteCtx(t), srv.URL+path, fast(WithRetries(0))...)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", path, err)
		}
		t.Log(err)
		_, err = Download(remoteCtx(t), srv.URL+path, nil, nil, fast(WithRetries(0))...)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("download %s: %v", path, err)
		}
	}
}
