package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestConvertDestinations checks what convert does with each kind of OUT
// before it reads any tensor: into an existing directory as cp does, a
// new directory named with a trailing slash, names ending in .json, a
// missing or unusable parent, and too little free space.
func TestConvertDestinations(t *testing.T) {
	tmp := t.TempDir()
	base := filepath.Base(tinyLlamaPath)
	index := shardTiny(t, filepath.Join(tmp, "ckpt"))
	orig := mustRead(t, tinyLlamaPath)

	// An existing directory receives the file under the input's name.
	dir := filepath.Join(tmp, "existing")
	os.Mkdir(dir, 0o755)
	r := stload(t, "convert", tinyLlamaPath, dir)
	if want := filepath.Join(dir, base); r.code != 0 || !strings.Contains(r.stdout, " -> "+want+": 21 tensors") || string(mustRead(t, want)) != string(orig) {
		t.Errorf("existing directory: %v", r)
	}
	// So does a new one named with a trailing slash, created for it.
	r = stload(t, "convert", tinyLlamaPath, filepath.Join(tmp, "new")+"/")
	if want := filepath.Join(tmp, "new", base); r.code != 0 || string(mustRead(t, want)) != string(orig) {
		t.Errorf("new directory/: %v", r)
	}
	// Only the last directory is created.
	r = stload(t, "convert", tinyLlamaPath, filepath.Join(tmp, "a", "b")+"/")
	if r.code != 1 || !strings.Contains(r.stderr, "directory "+filepath.Join(tmp, "a")+" does not exist") {
		t.Errorf("missing parent of new directory/: %v", r)
	}
	if _, err := os.Stat(filepath.Join(tmp, "a")); err == nil {
		t.Error("created the missing parent")
	}

	// OUT ending in .json is a usage error, for a checkpoint as for a file,
	// and nothing named so appears.
	for _, in := range []string{index, tinyLlamaPath} {
		out := filepath.Join(tmp, "out.json")
		r := stload(t, "convert", in, out)
		if r.code != exitUsage || !strings.Contains(r.stderr, "ends in .json") {
			t.Errorf("%s -> out.json: %v", in, r)
		}
		checkUsageError(t, r)
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s -> out.json: created %s", in, out)
		}
	}

	// A sharded output onto an existing file.
	file := filepath.Join(tmp, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	r = stload(t, "convert", index, file)
	if r.code != 1 || !strings.Contains(r.stderr, "is not a directory: a sharded checkpoint is written into a directory") {
		t.Errorf("checkpoint onto a file: %v", r)
	}
	// A parent that is a file.
	r = stload(t, "convert", tinyLlamaPath, filepath.Join(file, "x.safetensors"))
	if r.code != 1 || !strings.Contains(r.stderr, file+" is not a directory") {
		t.Errorf("parent is a file: %v", r)
	}
	assertNoTemp(t, tmp)
}

// TestConvertShardedOutName checks that --max-shard-size refuses an OUT
// named like a file (.safetensors, any case), which would otherwise become
// a directory of shards of that name, and creates nothing; a directory
// name is fine, and so is a .safetensors OUT for one file (a merge).
func TestConvertShardedOutName(t *testing.T) {
	tmp := t.TempDir()
	index := shardTiny(t, filepath.Join(tmp, "ckpt"))
	tests := []struct {
		name string
		args []string
		out  string // relative to tmp
		want string // "" for success, else the error's text
	}{
		{"file", []string{"--max-shard-size", "100kB", tinyLlamaPath}, "e5.safetensors", `OUT "` + tmp + `/e5.safetensors" ends in .safetensors, but --max-shard-size writes a checkpoint directory: give a directory (e5/)`},
		{"upper case", []string{"--max-shard-size", "100MB", tinyLlamaPath}, "E5.SafeTensors", "give a directory (E5/)"},
		{"checkpoint", []string{"--max-shard-size", "100kB", index}, "re.safetensors", "give a directory (re/)"},
		{"trailing slash", []string{"--max-shard-size", "100kB", tinyLlamaPath}, "d.safetensors/", "give a directory (d/)"},
		{"directory", []string{"--max-shard-size", "100kB", tinyLlamaPath}, "e5", ""},
		{"merge", []string{index}, "merged.safetensors", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(tmp, tc.out)
			if strings.HasSuffix(tc.out, "/") {
				out += "/"
			}
			r := stload(t, append(append([]string{"convert"}, tc.args...), out)...)
			if tc.want == "" {
				if r.code != 0 {
					t.Fatal(r)
				}
				return
			}
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v\nwant stderr with %q", r, tc.want)
			}
			checkUsageError(t, r)
			if _, err := os.Stat(out); err == nil {
				t.Errorf("created %s", out)
			}
		})
	}
}

// TestConvertChecksBeforeReading gives convert a remote input and an
// unusable OUT: the error comes before a single request.
func TestConvertChecksBeforeReading(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.ServeFile(w, r, tinyLlamaPath)
	}))
	defer srv.Close()
	tmp := t.TempDir()
	ro := filepath.Join(tmp, "ro")
	os.Mkdir(ro, 0o555)
	cases := map[string]string{
		filepath.Join(tmp, "missing", "out.safetensors"): "directory " + filepath.Join(tmp, "missing") + " does not exist",
		filepath.Join(tmp, "missing", "out") + "/":       "does not exist",
	}
	if os.Geteuid() != 0 { // root writes anywhere
		cases[filepath.Join(ro, "out.safetensors")] = "cannot write in directory " + ro
	}
	for out, want := range cases {
		r := stload(t, "convert", srv.URL+"/model.safetensors", out)
		if r.code != 1 || !strings.Contains(r.stderr, want) || requests.Load() != 0 {
			t.Errorf("%s: %d requests, %v", out, requests.Load(), r)
		}
	}
	if r := stload(t, "convert", srv.URL+"/model.safetensors", filepath.Join(tmp, "ok.safetensors")); r.code != 0 || requests.Load() == 0 {
		t.Errorf("a usable OUT: %v", r)
	}
}

// TestConvertFreeSpace makes the file system report less room than the
// output needs: convert refuses, saying how much it needs and has, and
// writes nothing.
func TestConvertFreeSpace(t *testing.T) {
	var asked []string
	full := room(150_000, func(dir string) { asked = append(asked, dir) })
	tmp := t.TempDir()
	for _, args := range [][]string{
		{tinyLlamaPath, filepath.Join(tmp, "one.safetensors")},
		{"--dtype", "f32", tinyLlamaPath, filepath.Join(tmp, "f32.safetensors")},
		{"--max-shard-size", "100kB", tinyLlamaPath, filepath.Join(tmp, "split")},
		{tinyLlamaPath, filepath.Join(tmp, "newdir") + "/"},
	} {
		asked = nil
		r := stloadOn(t, full, append([]string{"convert"}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "not enough space: the output needs ") ||
			!strings.Contains(r.stderr, " bytes), the file system of "+tmp+" has 150.0 kB free") {
			t.Errorf("%q: %v", args, r)
		}
		if len(asked) != 1 || asked[0] != tmp {
			t.Errorf("%q: asked about %q, want %s", args, asked, tmp)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
	// Enough room: converted.
	if r := stloadOn(t, room(300_000, nil), "convert", tinyLlamaPath, filepath.Join(tmp, "one.safetensors")); r.code != 0 {
		t.Error(r)
	}
}

// TestLoneShardNames checks that the lone-shard warning goes by
// checkpoint.ParseShardName: a shard of more than 99,999 is named so too
// (the writer's "%05d"), and what is not a shard's name gets no warning.
func TestLoneShardNames(t *testing.T) {
	dir := t.TempDir()
	src := copyFile(t, tinyLlamaPath, dir)
	for _, tc := range []struct {
		name, warn string
	}{
		{"big-00007-of-100000.safetensors", "big-00007-of-100000.safetensors is shard 7 of 100000"},
		{"-00001-of-00002.safetensors", ""},    // no prefix
		{"m-000001-of-000002.safetensors", ""}, // not as "%05d" writes it
		{"m-00003-of-00002.safetensors", ""},   // beyond the count
		{"m-00001-of-00001.safetensors", ""},   // a checkpoint of one shard
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.Rename(src, path); err != nil {
			t.Fatal(err)
		}
		src = path
		r := stload(t, "inspect", path)
		want := ""
		if tc.warn != "" {
			want = "stload: warning: " + tc.warn + "; give the directory or its index.json to load the whole checkpoint\n"
		}
		if r.code != 0 || r.stderr != want {
			t.Errorf("%s: %v\nwant stderr %q", tc.name, r, want)
		}
	}
}
