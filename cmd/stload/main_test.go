package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files and testdata/tiny-llama.safetensors")

const conformance = "../../testdata/conformance"

// result is what one run of the command produced.
type result struct {
	code           int
	stdout, stderr string
}

// stload runs the command line args and returns what it produced. A
// panic fails the test.
func stload(t *testing.T, args ...string) result {
	t.Helper()
	return stloadOn(t, nil, args...)
}

// stloadOn is stload in an env that set changes (nil: none), to answer
// for the machine: terminals (tty), free space (room).
func stloadOn(t *testing.T, set func(*env), args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := func() (code int) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("stload %q panicked: %v", args, r)
			}
		}()
		return runOn(set, args, &out, &errb)
	}()
	return result{code, out.String(), errb.String()}
}

// runOn is run in an env that set changes (nil: none).
func runOn(set func(*env), args []string, stdout, stderr io.Writer) int {
	e := newEnv(stdout, stderr)
	if set != nil {
		set(e)
	}
	return runEnv(context.Background(), e, args)
}

// tty makes every writer a terminal when yes is set, none otherwise.
func tty(yes bool) func(*env) {
	return func(e *env) { e.terminal = func(io.Writer) bool { return yes } }
}

// room makes every file system report free bytes, asking ask (when not
// nil) about each directory first.
func room(free int64, ask func(dir string)) func(*env) {
	return func(e *env) {
		e.freeSpace = func(dir string) (int64, error) {
			if ask != nil {
				ask(dir)
			}
			return free, nil
		}
	}
}

func (r result) String() string {
	return "exit " + string(rune('0'+r.code)) + "\nstdout: " + head(r.stdout) + "\nstderr: " + head(r.stderr)
}

func head(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// decodeLine parses stdout, which must be exactly one line of JSON, into v.
func decodeLine(t *testing.T, stdout string, v any) {
	t.Helper()
	if !strings.HasSuffix(stdout, "\n") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("want one line of JSON, got %q", head(stdout))
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("bad JSON %q: %v", head(stdout), err)
	}
}

// jsonKeys returns the keys of the JSON object in b, in order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %q", head(string(b)))
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func readJSONL(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// copyFile copies src into dir and returns the new path (writable, unlike
// the conformance files).
func copyFile(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// testdata is the package's testdata directory, wherever a test has
// changed the working directory to.
var testdata, _ = filepath.Abs("testdata")

// golden compares got with the golden file testdata/name, or rewrites it
// under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestUsage checks the exit status and where output goes for help
// requests and command lines stload does not understand.
func TestUsage(t *testing.T) {
	valid := filepath.Join(conformance, "valid", "all_dtypes.safetensors")
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring of stdout, if set
		stderr   string // substring of stderr, if set
		noOutput bool   // nothing on stdout
	}{
		{"no args", nil, 2, "", "stload: missing command (commands: inspect, validate,", true},
		{"help", []string{"help"}, 0, "Commands:", "", false},
		{"-h", []string{"-h"}, 0, "Commands:", "", false},
		{"--help", []string{"--help"}, 0, "Commands:", "", false},
		{"-help", []string{"-help"}, 0, "Commands:", "", false},
		{"help inspect", []string{"help", "inspect"}, 0, "Usage: stload inspect", "", false},
		{"help dump", []string{"help", "dump"}, 0, "--slice SPEC", "", false},
		{"help help", []string{"help", "help"}, 0, "Usage: stload help", "", false},
		{"help -h", []string{"help", "-h"}, 0, "Usage: stload help", "", false},
		{"help --help", []string{"help", "--help"}, 0, "Usage: stload help", "", false},
		{"help unknown", []string{"help", "frobnicate"}, 2, "", `unknown command "frobnicate"`, true},
		{"help too many", []string{"help", "inspect", "dump"}, 2, "", "too many", true},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`, true},
		{"flag first", []string{"--json", "inspect", valid}, 2, "", "a command must come first", true},
		{"inspect --help after file", []string{"inspect", valid, "--help"}, 0, "Usage: stload inspect", "", false},
		{"help load", []string{"help", "load"}, 0, "--shard PATTERN=DIM[@DEVICES]", "", false},
		{"help lists load", []string{"help"}, 0, "\tload      place tensors", "", false},
		{"help lists bench", []string{"help"}, 0, "\tbench     run the benchmark harness", "", false},
		{"help lists version", []string{"help"}, 0, "\tversion   print", "", false},
		{"load no input", []string{"load"}, 2, "", "usage: stload load", true},
		{"convert bad shard size", []string{"convert", "--max-shard-size", "lots", valid, "out"}, 2, "", "--max-shard-size", true},
		{"inspect no file", []string{"inspect"}, 2, "", "usage: stload inspect", true},
		{"inspect two files", []string{"inspect", valid, valid}, 2, "", "too many arguments", true},
		{"inspect unknown flag", []string{"inspect", "--frob", valid}, 2, "", "flag provided but not defined: -frob", true},
		{"inspect unknown flag after file", []string{"inspect", valid, "-x"}, 2, "", "see: stload help inspect", true},
		{"inspect bad bool", []string{"inspect", "--json=maybe", valid}, 2, "", "invalid boolean", true},
		{"inspect triple dash", []string{"inspect", "---json", valid}, 2, "", "bad flag syntax", true},
		{"validate no files", []string{"validate"}, 2, "", "usage: stload validate", true},
		{"validate --json no files", []string{"validate", "--json"}, 2, "", "missing arguments", true},
		{"dump one arg", []string{"dump", valid}, 2, "", "usage: stload dump", true},
		{"dump three args", []string{"dump", valid, "t_f32", "x"}, 2, "", "too many arguments", true},
		{"dump --slice without value", []string{"dump", valid, "t_f32", "--slice"}, 2, "", "flag needs an argument", true},
		{"dump --raw --values", []string{"dump", "--raw", "--values", valid, "t_f32"}, 2, "", "exclude each other", true},
		{"dump --raw --json", []string{"dump", "--raw", "--json", valid, "t_f32"}, 2, "", "exclude each other", true},
		{"convert one arg", []string{"convert", valid}, 2, "", "usage: stload convert", true},
		{"convert ambiguous dtype", []string{"convert", "--dtype", "fp8", valid, "out"}, 2, "", `"fp8": ambiguous`, true},
		{"convert integer dtype", []string{"convert", "--dtype", "int8", valid, "out"}, 2, "", "not a conversion target", true},
		{"convert sub-byte dtype", []string{"convert", "--dtype", "fp4", valid, "out"}, 2, "", "not a conversion target", true},
		{"convert unknown flag", []string{"convert", "--shard", "2", valid, "out"}, 2, "", "not defined", true},
		{"version extra", []string{"version", "x"}, 2, "", "usage: stload version", true},
		{"lone dash is a file", []string{"inspect", "-"}, 1, "", "IoError", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := stload(t, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%v", r.code, tc.code, r)
			}
			if tc.stdout != "" && !strings.Contains(r.stdout, tc.stdout) {
				t.Errorf("stdout lacks %q\n%v", tc.stdout, r)
			}
			if tc.stderr != "" && !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q\n%v", tc.stderr, r)
			}
			if tc.noOutput && r.stdout != "" {
				t.Errorf("unexpected stdout\n%v", r)
			}
			if tc.code == 0 && r.stderr != "" {
				t.Errorf("unexpected stderr\n%v", r)
			}
			if tc.code == exitUsage {
				checkUsageError(t, r)
			}
		})
	}
}

// checkUsageError checks the form of a usage error: three lines on
// stderr (the error, one usage line, where the help is), not the help.
func checkUsageError(t *testing.T, r result) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "stload") || !strings.HasPrefix(lines[1], "usage: stload ") ||
		!strings.HasPrefix(lines[2], "see: stload help") || r.stdout != "" {
		t.Errorf("not a short usage error:\n%v", r)
	}
}

// TestHelpEveryCommand asks every command for its help in every way:
// the help, on stdout, exit 0, nothing on stderr; and gives every command
// an unknown flag: a short usage error naming its help.
func TestHelpEveryCommand(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no stbench: bench's help still works
	for _, c := range commands() {
		if len(c.synopsis) > screenWidth-len("usage: ") || !strings.HasPrefix(c.synopsis, "stload "+c.name) {
			t.Errorf("%s: synopsis %q", c.name, c.synopsis)
		}
		if !strings.HasPrefix(c.usage, "Usage: stload "+c.name) {
			t.Errorf("%s: help starts %q", c.name, head(c.usage))
		}
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {c.name, "-help"}, {"help", c.name}, {"--help", c.name}} {
			r := stload(t, args...)
			if r.code != 0 || r.stdout != c.usage || r.stderr != "" {
				t.Errorf("%q: %v", args, r)
			}
		}
		if c.name == "bench" {
			continue // its flags are stbench's
		}
		r := stload(t, c.name, "--no-such-flag")
		if r.code != exitUsage || !strings.Contains(r.stderr, "usage: "+c.synopsis+"\nsee: stload help "+c.name+"\n") {
			t.Errorf("%s --no-such-flag: %v", c.name, r)
		}
		checkUsageError(t, r)
	}
}

// TestVersion checks stload version, --version and -version, and what
// they make of a binary's build information.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		r := stload(t, args...)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "stload ") ||
			!strings.Contains(r.stdout, "go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") ||
			!strings.Contains(r.stdout, "cuda: no: CPU only") {
			t.Errorf("%q: %v", args, r)
		}
	}
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		bi   *debug.BuildInfo
		cuda bool
		want []string
	}{
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: settings("-tags", "cuda", "vcs.revision", "abc")}, true,
			[]string{"stload v1.2.3\n", "build tags: cuda\n", "cuda: yes"}},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", "0123abc", "vcs.modified", "true")}, false,
			[]string{"stload (devel) 0123abc (modified)\n", "build tags: none\n", "cuda: no"}},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("-tags", "cuda,netgo", "vcs.revision", "0123abc", "vcs.modified", "false")}, true,
			[]string{"stload (devel) 0123abc\n", "build tags: cuda netgo\n"}},
		{nil, false, []string{"stload (unknown)\n"}},
	} {
		got := versionText(tc.bi, tc.cuda)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("versionText lacks %q:\n%s", w, got)
			}
		}
	}
}

// TestFlagOrder checks that flags work before, between and after the
// positional arguments, and that "--" ends them.
func TestFlagOrder(t *testing.T) {
	valid := filepath.Join(conformance, "valid", "all_dtypes.safetensors")
	want := stload(t, "dump", "--sha256", "--slice", "1", valid, "t_f32")
	if want.code != 0 {
		t.Fatal(want)
	}
	for _, args := range [][]string{
		{"dump", valid, "t_f32", "--sha256", "--slice", "1"},
		{"dump", valid, "--slice=1", "t_f32", "-sha256"},
		{"dump", "-slice", "1", valid, "t_f32", "--sha256=true"},
		{"dump", "--sha256", "--slice", "1", "--", valid, "t_f32"},
		{"dump", "--sha256", valid, "--slice", "1", "--", "t_f32"},
	} {
		if got := stload(t, args...); got != want {
			t.Errorf("%q:\n%v\nwant\n%v", args, got, want)
		}
	}
	// After "--", a flag-like argument is a positional one.
	r := stload(t, "dump", "--sha256", "--", valid, "--json")
	if r.code != 1 || !strings.Contains(r.stdout, `"kind":"TensorNotFound"`) {
		t.Errorf("after --: %v", r)
	}
	// "--" as the value of a flag is just a value.
	r = stload(t, "dump", "--sha256", "--slice", "--", valid, "t_f32")
	if r.code != 1 || !strings.Contains(r.stdout, `"kind":"InvalidSlice"`) {
		t.Errorf("--slice --: %v", r)
	}
	// A flag's value that is a flag's name does not take the "--" after it.
	r = stload(t, "dump", "--sha256", "--slice", "slice", "--", valid, "--json")
	if r.code != 1 || !strings.Contains(r.stdout, `"kind":"TensorNotFound"`) {
		t.Errorf("--slice slice --: %v", r)
	}
	// inspect FILE --json, the case the flag package alone gets wrong.
	r = stload(t, "inspect", valid, "--json")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `{"ok":true,`) {
		t.Errorf("inspect FILE --json: %v", r)
	}
}

// TestNoPanic runs odd command lines through every command.
func TestNoPanic(t *testing.T) {
	valid := filepath.Join(conformance, "valid", "all_dtypes.safetensors")
	odd := [][]string{
		{}, {""}, {"-"}, {"--"}, {"---"}, {"-="}, {"--=x"}, {"-json="}, {"--slice"}, {"--slice", ""},
		{"--dtype"}, {"--dtype", ""}, {valid, ""}, {valid, "", ""}, {"", valid}, {"--", "--", "--"},
		{"-h", "-h"}, {valid, "t_f32", "--slice", ",,"}, {valid, "t_f32", "--slice", "::::"},
		{valid, "t_f32", "--slice", "-9223372036854775808"}, {valid, "t_f32", "--slice", "0:9223372036854775807:9223372036854775807"},
		{valid, "t_f32", "--slice", "-1:-9223372036854775808"}, {valid, "t_f4", "--values", "--slice", "0,1:2"},
	}
	for _, c := range append(commands(), &command{name: "help"}) {
		for _, args := range odd {
			r := stload(t, append([]string{c.name}, args...)...)
			if r.code < 0 || r.code > 2 {
				t.Errorf("stload %s %q: exit %d", c.name, args, r.code)
			}
		}
	}
}

// TestBench checks that "stload bench" runs the stbench found next to
// the executable or on PATH, and says how to get one when there is none.
func TestBench(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"bench"}, 2, "", "go run ./bench/cmd/stbench"},
		{[]string{"bench", "machine"}, 2, "", "go install ./bench/cmd/stbench"},
		{[]string{"bench", "-h"}, 0, "Usage: stload bench", ""},
		{[]string{"bench", "help"}, 0, "Usage: stload bench", ""},
		{[]string{"bench", "cpu", "--help"}, 0, "Usage: stload bench", ""},
	} {
		r := stload(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("no stbench: %q: %v", tc.args, r)
		}
	}

	// A stand-in stbench on PATH gets the arguments and gives its status.
	fake := filepath.Join(empty, "stbench")
	script := "#!/bin/sh\necho \"args: $*\"\necho oops >&2\nexit 3\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"machine", "--json"}, {"help"}, {"cpu", "-h"}, {}} {
		r := stload(t, append([]string{"bench"}, args...)...)
		if r.code != 3 || r.stdout != "args: "+strings.Join(args, " ")+"\n" || r.stderr != "oops\n" {
			t.Errorf("stbench on PATH: %q: %v", args, r)
		}
	}
	// "bench -h" alone is stload's help of it.
	if r := stload(t, "bench", "-h"); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: stload bench") {
		t.Errorf("bench -h: %v", r)
	}
	// Next to the executable wins over PATH.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stbench"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := findStbench(dir); err != nil || got != filepath.Join(dir, "stbench") {
		t.Errorf("findStbench(%s) = %q, %v", dir, got, err)
	}
	if got, err := findStbench(t.TempDir()); err != nil || got != fake {
		t.Errorf("findStbench falls back to PATH: %q, %v", got, err)
	}
}

// TestNoBenchInBinary checks that stload links neither the benchmark
// harness nor the peers it measures, nor the gorgonia tensor stack (its
// adapter lives in device/dense, which the command does not import), nor
// regexp and encoding/xml, which it was made free of for a faster first
// build.
func TestNoBenchInBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	banned := func(p string) bool {
		switch p {
		case "github.com/stload/stload/bench", "github.com/stload/stload/device/dense", "regexp", "encoding/xml":
			return true
		}
		for _, prefix := range []string{"github.com/stload/stload/bench/", "gorgonia.org/", "gonum.org/",
			"github.com/apache/arrow", "google.golang.org/protobuf", "github.com/golang/protobuf",
			"github.com/nlpodyssey/"} {
			if strings.HasPrefix(p, prefix) {
				return true
			}
		}
		return false
	}
	var linked []string
	for _, p := range strings.Fields(string(out)) {
		if banned(p) {
			linked = append(linked, p)
		}
	}
	if len(linked) > 0 {
		t.Errorf("stload links %d packages it must not:\n\t%s", len(linked), strings.Join(linked, "\n\t"))
	}
}
