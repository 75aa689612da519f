package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveNoRanges serves the files of dir as python3 -m http.server does:
// status 200 and the whole file whatever the Range header, with its
// length and a Last-Modified date. It counts the requests.
func serveNoRanges(t *testing.T, dir string, requests *atomic.Int64) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests != nil {
			requests.Add(1)
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path.Clean(r.URL.Path))))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

// serveNoValidators serves the files of dir with range support but
// neither an ETag nor a Last-Modified date (http.ServeContent with a zero
// time), as some object stores and proxies do.
func serveNoValidators(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path.Clean(r.URL.Path))))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(s.Close)
	return s
}

// TestRemoteNoRanges reads files and a checkpoint from a server without
// range support: every reading command works on a download, says so on
// stderr, and leaves nothing in the download directory.
func TestRemoteNoRanges(t *testing.T) {
	src := t.TempDir()
	copyFile(t, tinyLlamaPath, src)
	shardTiny(t, filepath.Join(src, "ckpt"))
	srv := serveNoRanges(t, src, nil)
	file := srv.URL + "/tiny-llama.safetensors"
	index := srv.URL + "/ckpt/model.safetensors.index.json"
	want := stload(t, "inspect", "--json", tinyLlamaPath)

	dl := t.TempDir()
	r := stload(t, "inspect", "--json", "--download-dir", dl, file)
	notice := "stload: " + srv.URL + " has no range support: downloading the whole file tiny-llama.safetensors (215.8 kB) to " + dl + "\n"
	if r.code != 0 || r.stdout != want.stdout || r.stderr != notice {
		t.Errorf("inspect --json: %v\nwant stderr %q", r, notice)
	}
	for _, args := range [][]string{
		{"validate", file, index},
		{"dump", "--sha256", file, "lm_head.weight"},
		{"dump", "--sha256", index, "lm_head.weight"},
		{"load", "--json", "--verify", index},
		{"convert", index, filepath.Join(t.TempDir(), "out.safetensors")},
	} {
		r := stload(t, append(args, "--download-dir", dl)...)
		if r.code != 0 || !strings.Contains(r.stderr, " has no range support: downloading the whole file ") {
			t.Errorf("%q: %v", args, r)
		}
	}
	// The third shard (19 kB) comes whole with the first response, which
	// needs no range support.
	if r := stload(t, "inspect", "--download-dir", dl, index); r.code != 0 ||
		strings.Count(r.stderr, "has no range support") != 2 || !strings.Contains(r.stderr, " model-00002-of-00003.safetensors (") {
		t.Errorf("inspect of a checkpoint: %v\nstderr: %s", r, r.stderr)
	}
	if left, _ := os.ReadDir(dl); len(left) != 0 {
		t.Errorf("the downloads left %v in %s", left, dl)
	}

	// By default into the system's temporary directory.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if r := stload(t, "validate", file); r.code != 0 || !strings.Contains(r.stderr, ") to "+tmp+"\n") {
		t.Errorf("validate with TMPDIR: %v", r)
	}
	// A server that sends no validator cannot vouch for a download that
	// would have to resume: --require-validators refuses it.
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(tinyLlamaPath)
		w.Write(b)
	}))
	defer bare.Close()
	r = stload(t, "inspect", "--json", "--require-validators", "--download-dir", dl, bare.URL+"/m.safetensors")
	var got validateJSON
	decodeLine(t, r.stdout, &got)
	if r.code != 1 || got.Kind != "NoValidators" {
		t.Errorf("--require-validators on a download: %v", r)
	}
}

// TestRemoteDownloadProgress checks that a download draws the progress
// bar on a terminal, and only there.
func TestRemoteDownloadProgress(t *testing.T) {
	src := t.TempDir()
	copyFile(t, tinyLlamaPath, src)
	file := serveNoRanges(t, src, nil).URL + "/tiny-llama.safetensors"
	for _, tc := range []struct {
		args     []string
		terminal bool
		bar      bool
	}{
		{[]string{"inspect", file}, true, true},
		{[]string{"load", "--copy", file}, true, true},
		{[]string{"inspect", file}, false, false},
		{[]string{"load", "--json", file}, true, false},
	} {
		var out strings.Builder
		var errb syncBuffer
		if code := runOn(tty(tc.terminal), append(tc.args, "--download-dir", t.TempDir()), &out, &errb); code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.args, code, errb.String())
		}
		got := errb.String()
		notice := strings.Contains(got, "has no range support: downloading the whole file tiny-llama.safetensors (215.8 kB)")
		bar := strings.Contains(got, "\r[========================]  215.8/215.8 kB")
		if !notice || bar != tc.bar {
			t.Errorf("terminal=%v %q: stderr %q, want a bar: %v", tc.terminal, tc.args, got, tc.bar)
		}
		if tc.bar && !strings.Contains(got, " GB/s") || otherRates(got) != nil {
			t.Errorf("%q: rates %q, want GB/s", tc.args, otherRates(got))
		}
	}
}

// TestRemoteDownloadNoRoom checks that a download that does not fit in
// the download directory is refused before it is written.
func TestRemoteDownloadNoRoom(t *testing.T) {
	full := room(100_000, nil)
	src := t.TempDir()
	copyFile(t, tinyLlamaPath, src)
	file := serveNoRanges(t, src, nil).URL + "/tiny-llama.safetensors"
	dl := t.TempDir()
	r := stloadOn(t, full, "inspect", "--download-dir", dl, file)
	want := "stload: " + file + ": not enough space to download tiny-llama.safetensors: it needs 215.8 kB (215,792 bytes), the file system of " +
		dl + " has 100.0 kB free (--download-dir chooses another directory) [IoError]\n"
	if r.code != 1 || !strings.HasSuffix(r.stderr, want) {
		t.Errorf("%v\nwant stderr ending %q", r, want)
	}
	r = stloadOn(t, full, "load", "--json", "--download-dir", dl, file)
	var got validateJSON
	decodeLine(t, r.stdout, &got)
	if r.code != 1 || got.Kind != "IoError" || !strings.Contains(got.Error, "not enough space to download") {
		t.Errorf("load --json: %v", r)
	}
	if left, _ := os.ReadDir(dl); len(left) != 0 {
		t.Errorf("left %v in %s", left, dl)
	}
}

// TestRemoteNoValidators reads from a server that sends no ETag or
// Last-Modified: a warning by default, an error with
// --require-validators; no warning for a server that sends validators.
func TestRemoteNoValidators(t *testing.T) {
	src := t.TempDir()
	copyFile(t, tinyLlamaPath, src)
	shardTiny(t, filepath.Join(src, "ckpt"))
	bare := serveNoValidators(t, src)
	file := bare.URL + "/tiny-llama.safetensors?token=s3cret"
	warning := "stload: warning: " + bare.URL + "/tiny-llama.safetensors?…: no ETag or Last-Modified: stload cannot detect the file changing while it reads; --require-validators makes this an error\n"
	want := stload(t, "inspect", "--json", tinyLlamaPath)
	if r := stload(t, "inspect", "--json", file); r.code != 0 || r.stdout != want.stdout || r.stderr != warning {
		t.Errorf("inspect: %v\nwant stderr %q", r, warning)
	}
	r := stload(t, "validate", bare.URL+"/ckpt/model.safetensors.index.json")
	if !strings.Contains(r.stderr, "/ckpt/model-00001-of-00003.safetensors: no ETag or Last-Modified (nor for 3 more files): ") {
		t.Errorf("validate of a checkpoint: %v", r)
	}
	for _, args := range [][]string{
		{"inspect", "--json", "--require-validators", file},
		{"validate", "--json", "--require-validators", file},
		{"dump", "--json", "--require-validators", file, "lm_head.weight"},
		{"load", "--json", "--require-validators", file},
	} {
		r := stload(t, args...)
		var got validateJSON
		decodeLine(t, r.stdout, &got)
		if r.code != 1 || got.Kind != "NoValidators" || r.stderr != "" {
			t.Errorf("%q: %v", args, r)
		}
	}
	r = stload(t, "convert", "--require-validators", file, filepath.Join(t.TempDir(), "x.safetensors"))
	if r.code != 1 || !strings.HasSuffix(r.stderr, "[NoValidators]\n") {
		t.Errorf("convert --require-validators: %v", r)
	}
	// A server with validators (http.FileServer's Last-Modified) is
	// neither warned about nor refused.
	good := serve(t, src)
	for _, args := range [][]string{
		{"inspect", good.URL + "/tiny-llama.safetensors"},
		{"validate", "--require-validators", good.URL + "/ckpt/model.safetensors.index.json"},
	} {
		if r := stload(t, args...); r.code != 0 || r.stderr != "" {
			t.Errorf("%q: %v", args, r)
		}
	}
}

// TestRemoteTimeout checks that --timeout bounds the reads of a server
// that does not answer, and that its value is checked.
func TestRemoteTimeout(t *testing.T) {
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}))
	defer stuck.Close()
	for _, cmd := range []string{"inspect", "validate", "load"} {
		r := stload(t, cmd, "--json", "--timeout", "300ms", stuck.URL+"/m.safetensors")
		var got validateJSON
		decodeLine(t, r.stdout, &got)
		if r.code != 1 || got.Kind != "DeadlineExceeded" {
			t.Errorf("%s: %v", cmd, r)
		}
	}
	for _, bad := range []string{"soon", "-1s", "10"} {
		r := stload(t, "inspect", "--timeout", bad, tinyLlamaPath)
		if r.code != 2 || !strings.Contains(r.stderr, "timeout") {
			t.Errorf("--timeout %s: %v", bad, r)
		}
	}
	src := t.TempDir()
	copyFile(t, tinyLlamaPath, src)
	if r := stload(t, "inspect", "--timeout", "0", serve(t, src).URL+"/tiny-llama.safetensors"); r.code != 0 {
		t.Errorf("--timeout 0: %v", r)
	}
}

// TestRemoteNotSafetensors checks what a URL serving a web page says.
func TestRemoteNotSafetensors(t *testing.T) {
	page := "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>" + strings.Repeat("<p>Please sign in.</p>", 20) + "</body></html>\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "login.html", time.Unix(1e9, 0), strings.NewReader(page))
	}))
	defer srv.Close()
	r := stload(t, "inspect", srv.URL+"/model.safetensors")
	if r.code != 1 || !strings.Contains(r.stderr, "not a safetensors file") || !strings.Contains(r.stderr, "html") {
		t.Errorf("inspect: %v", r)
	}
	r = stload(t, "validate", srv.URL+"/model.safetensors")
	if r.code != 1 || !strings.Contains(r.stdout, "not a safetensors file") {
		t.Errorf("validate: %v", r)
	}
}
