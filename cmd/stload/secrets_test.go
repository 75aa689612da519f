package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSecrets runs every command on URLs that carry credentials (user
// information, and query values such as a presigned URL's signature), on
// files that exist and files that do not, with progress bars on, and
// checks that no credential appears in anything stload prints: also for
// schemes in upper case, and for URL-looking arguments that stload takes
// for paths (another scheme, an OUT, a --timeline or --download-dir, a
// flag's value), whose errors repeat them.
func TestNoSecrets(t *testing.T) {
	tmp := t.TempDir()
	index := shardTiny(t, filepath.Join(tmp, "ckpt"))
	srv := httptest.NewServer(http.FileServer(http.Dir(tmp)))
	defer srv.Close()
	copyFile(t, tinyLlamaPath, tmp)

	secrets := []string{"hunter2", "tok3n", "s1gnature", "cr3dential", "k3y", "acc3ss", "s3cretPW", "TOKSECRET", "SECRETPW"}
	host := strings.TrimPrefix(srv.URL, "http://")
	url := func(path string) string {
		return "http://alice:hunter2@" + host + "/" + path +
			"?token=tok3n&X-Amz-Signature=s1gnature&X-Amz-Credential=cr3dential&api_key=k3y&access_token=acc3ss#frag"
	}
	file, ckpt := url(filepath.Base(tinyLlamaPath)), url("ckpt/"+filepath.Base(index))
	// The same files from a server without range support (downloaded
	// whole, with notices and progress) and from one without validators
	// (warned about, or refused).
	on := func(srv *httptest.Server, u string) string {
		return strings.Replace(u, host, strings.TrimPrefix(srv.URL, "http://"), 1)
	}
	noRanges, noValidators := serveNoRanges(t, tmp, nil), serveNoValidators(t, tmp)
	dl := t.TempDir()
	missing, bad := url("nope.safetensors"), url("ckpt/"+filepath.Base(index)+"/x")
	upper := func(u string) string { return "HTTP" + strings.TrimPrefix(u, "http") }
	other := "ftp://alice:hunter2@h/x.safetensors?token=tok3n&X-Amz-Signature=s1gnature"
	out := filepath.Join(tmp, "out")
	commands := [][]string{
		{"inspect", file}, {"inspect", "--json", file}, {"inspect", "--sha256", file}, {"inspect", ckpt}, {"inspect", "--json", ckpt},
		{"inspect", missing}, {"inspect", "--json", missing}, {"inspect", bad},
		{"validate", file, ckpt, missing, bad}, {"validate", "--json", file, ckpt, missing, bad},
		{"dump", file, "lm_head.weight"}, {"dump", "--sha256", file, "lm_head.weight"}, {"dump", "--json", "--slice", "0", file, "model.norm.weight"},
		{"dump", "--values", ckpt, "model.norm.weight"}, {"dump", file, "nope"}, {"dump", "--sha256", missing, "x"},
		{"dump", "--slice", "9:1", file, "lm_head.weight"},
		{"convert", file, out + ".safetensors"}, {"convert", "--dtype", "f32", ckpt, out + "2.safetensors"},
		{"convert", "--max-shard-size", "100kB", file, out + "3"}, {"convert", missing, out + "4.safetensors"},
		{"load", "--copy", file}, {"load", "--json", ckpt}, {"load", "--dry-run", file}, {"load", "--verify", "--copy", ckpt},
		{"load", missing}, {"load", "--json", missing}, {"load", "--device", "cuda:0", file},
		{"inspect", "--download-dir", dl, on(noRanges, file)}, {"load", "--copy", "--download-dir", dl, on(noRanges, file)},
		{"validate", "--download-dir", dl, on(noRanges, ckpt)}, {"inspect", "--json", "--require-validators", on(noRanges, file)},
		{"inspect", on(noValidators, file)}, {"validate", on(noValidators, ckpt)}, {"load", "--json", "--require-validators", on(noValidators, ckpt)},
		{"inspect", "--timeout", "1ns", file}, {"load", "--json", "--timeout", "1ns", ckpt},
		// Schemes in any case are URLs.
		{"inspect", upper(file)}, {"inspect", "--json", upper(ckpt)}, {"validate", upper(file), upper(missing)},
		{"load", "--copy", upper(file)}, {"dump", "--sha256", upper(ckpt), "model.norm.weight"},
		{"inspect", "HTTP://u:SECRETPW@" + host + "/m.safetensors"}, {"validate", "--json", "Https://u:SECRETPW@" + host + "/m.safetensors?sig=s1gnature"},
		// URL-looking arguments taken for paths, and the paths made from them.
		{"inspect", other}, {"inspect", "--json", other}, {"validate", other, "ftp:/alice:hunter2@h/x"}, {"validate", "--json", other},
		{"dump", other, "x"}, {"load", "--json", other}, {"load", other}, {"convert", other, out + "5.safetensors"},
		{"convert", tinyLlamaPath, filepath.Join(tmp, "http://alice:s3cretPW@h/x.safetensors?token=TOKSECRET")},
		{"convert", "--max-shard-size", "100kB", tinyLlamaPath, filepath.Join(tmp, "HTTP://alice:hunter2@h/e5?token=tok3n") + "/"},
		{"load", "--copy", "--timeline", filepath.Join(tmp, "http://alice:hunter2@h/t.json?token=tok3n"), file},
		{"inspect", "--download-dir", "s3://alice:hunter2@bucket/dl?X-Amz-Signature=s1gnature", on(noRanges, file)},
	}
	var all strings.Builder // everything printed, to check the new lines were
	for _, term := range []bool{false, true} {
		for _, args := range commands {
			r := stloadOn(t, tty(term), args...)
			all.WriteString(r.stdout + r.stderr)
			if r.code > 1 {
				t.Errorf("%q: %v", args, r)
			}
			noSecret(t, args, r, secrets)
		}
		for _, args := range usageLeaks(file) {
			r := stloadOn(t, tty(term), args...)
			if r.code != exitUsage {
				t.Errorf("%q: %v", args, r)
			}
			noSecret(t, args, r, secrets)
		}
	}
	for _, line := range []string{"has no range support: downloading the whole file", "\r[====", "no ETag or Last-Modified", "NoValidators", "DeadlineExceeded"} {
		if !strings.Contains(all.String(), line) {
			t.Errorf("no command printed %q", line)
		}
	}
	noSecretsOnFullDisk(t, secrets, on(noRanges, file), dl)
	// The redacted URL still says which file it is.
	r := stload(t, "validate", "--json", missing)
	if !strings.Contains(r.stdout, `"file":"http://`+host+`/nope.safetensors`) {
		t.Errorf("validate --json: %v", r)
	}
}

// noSecret fails the test when any of secrets is in r's output.
func noSecret(t *testing.T, args []string, r result, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("%q printed %q:\n%v", args, s, r)
		}
	}
}

// noSecretsOnFullDisk checks that a download refused for want of room
// names the file, and no secret.
func noSecretsOnFullDisk(t *testing.T, secrets []string, file, dl string) {
	t.Helper()
	for _, args := range [][]string{{"inspect", "--download-dir", dl, file}, {"load", "--json", "--download-dir", dl, file}} {
		r := stloadOn(t, room(1000, nil), args...)
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "not enough space to download tiny-llama.safetensors") {
			t.Errorf("%q: %v", args, r)
		}
		noSecret(t, args, r, secrets)
	}
}

// usageLeaks returns command lines whose usage errors repeat an argument
// that holds credentials, with file the URL of a file to read.
func usageLeaks(file string) [][]string {
	return [][]string{
		{"convert", tinyLlamaPath, "http://alice:s3cretPW@h/x.safetensors?token=TOKSECRET"},
		{"convert", tinyLlamaPath, "HTTP://alice:s3cretPW@h/x.json?token=TOKSECRET"},
		{"convert", "--max-shard-size", "1MB", tinyLlamaPath, "s3://alice:hunter2@bucket/e5.safetensors?X-Amz-Signature=s1gnature"},
		{"load", "--timeout", "http://alice:hunter2@h/?token=tok3n", file},
		{"load", "--map", "x=http://alice:hunter2@h/?token=tok3n", file},
		{"http://alice:hunter2@h/?token=tok3n"},
	}
}
