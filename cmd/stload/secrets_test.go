package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoSecrets runs every command on URLs that carry credentials (user
// information, and query values such as a presigned URL's signature), on
// files that exist and files that do not, with progress bars on, and
// checks that no credential appears in anything stload prints.
func TestNoSecrets(t *testing.T) {
	defer func(f func(io.Writer) bool) { terminal = f }(terminal)
	tmp := t.TempDir()
	index := shardTiny(t, filepath.Join(tmp, "ckpt"))
	srv := httptest.NewServer(http.FileServer(http.Dir(tmp)))
	defer srv.Close()
	copyFile(t, tinyLlamaPath, tmp)

	secrets := []string{"hunter2", "tok3n", "s1gnature", "cr3dential", "k3y", "acc3ss"}
	host := strings.TrimPrefix(srv.URL, "http://")
	url := func(path string) string {
		return "http://alice:hunter2@" + host + "/" + path +
			"?token=tok3n&X-Amz-Signature=s1gnature&X-Amz-Credential=cr3dential&api_key=k3y&access_token=acc3ss#frag"
	}
	file, ckpt := url(filepath.Base(tinyLlamaPath)), url("ckpt/"+filepath.Base(index))
	missing, bad := url("nope.safetensors"), url("ckpt/"+filepath.Base(index)+"/x")
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
	}
	for _, tty := range []bool{false, true} {
		terminal = func(io.Writer) bool { return tty }
		for _, args := range commands {
			r := stload(t, args...)
			if r.code > 1 {
				t.Errorf("%q: %v", args, r)
			}
			for _, s := range secrets {
				if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
					t.Errorf("terminal=%v: %q printed %q:\n%v", tty, args, s, r)
				}
			}
		}
	}
	// The redacted URL still says which file it is.
	r := stload(t, "validate", "--json", missing)
	if !strings.Contains(r.stdout, `"file":"http://`+host+`/nope.safetensors`) {
		t.Errorf("validate --json: %v", r)
	}
}
