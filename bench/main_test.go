package bench

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestMainHelp checks Main's help and usage errors for every command:
// help goes to stdout with status 0, whatever the build (the GPU commands
// show theirs without -tags cuda too), and a usage error is three lines on
// stderr (the error, the usage line, where to read more) with status 2.
func TestMainHelp(t *testing.T) {
	type want struct {
		code           int
		stdout, stderr []string // substrings; nil: the stream is empty
		stderrLines    int      // when positive, the lines stderr holds
	}
	usageErr := func(sub, msg string) want {
		return want{2, nil, []string{"stbench " + sub + ": " + msg, "\nusage: stbench " + sub, "\nsee: stbench " + sub + " -h\n"}, 3}
	}
	cases := map[string]want{
		"":           {2, nil, []string{"usage: stbench COMMAND", "Run 'stbench COMMAND -h'"}, 0},
		"help":       {0, []string{"usage: stbench COMMAND", "\n  gen ", "\n  gpu-trial "}, nil, 0},
		"-h":         {0, []string{"usage: stbench COMMAND"}, nil, 0},
		"--help":     {0, []string{"usage: stbench COMMAND"}, nil, 0},
		"help gen":   {0, []string{"usage: stbench gen -out PATH [flags]\n", "-kind string"}, nil, 0},
		"-h warm":    {0, []string{"usage: stbench warm [flags] FILE...\n"}, nil, 0},
		"nonsense":   {2, nil, []string{`unknown command "nonsense"`, "see: stbench help\n"}, 3},
		"help bogus": {2, nil, []string{`unknown command "bogus"`}, 3},
		"help a b":   {2, nil, []string{"too many arguments"}, 3},
		"gen":        usageErr("gen", "-out is required"),
		"timeline":   usageErr("timeline", "give one timeline JSON file"),
	}
	commands := commandTable()
	for _, sub := range slices.Sorted(maps.Keys(commands)) {
		for _, h := range []string{"-h", "-help", "--help"} {
			cases[sub+" "+h] = want{0, []string{"usage: stbench " + sub, "\n\n" + commands[sub].help + ".\n"}, nil, 0}
		}
		cases[sub+" --bogus"] = usageErr(sub, "flag provided but not defined: -bogus")
	}
	for args, more := range map[string][]string{
		"gen -h":             {"\nflags:\n", "  -out string\n"},
		"gpu-trial -h":       {"  -device string\n"},
		"gpu-ceiling --help": {"  -bytes-per-run value\n"},
	} {
		w := cases[args]
		w.stdout = append(w.stdout, more...)
		cases[args] = w
	}
	cases["machine -h"] = want{0, []string{"usage: stbench machine\n\nprint the machine facts as JSON.\n"}, nil, 0}

	for args, w := range cases {
		var stdout, stderr bytes.Buffer
		code := Main(strings.Fields(args), &stdout, &stderr)
		check := func(stream string, got string, want []string) {
			if want == nil && got != "" {
				t.Errorf("%q: unexpected %s:\n%s", args, stream, got)
			}
			for _, s := range want {
				if !strings.Contains(got, s) {
					t.Errorf("%q: %s lacks %q:\n%s", args, stream, s, got)
				}
			}
		}
		if code != w.code {
			t.Errorf("%q: status %d, want %d", args, code, w.code)
		}
		check("stdout", stdout.String(), w.stdout)
		check("stderr", stderr.String(), w.stderr)
		if n := strings.Count(stderr.String(), "\n"); w.stderrLines > 0 && n != w.stderrLines {
			t.Errorf("%q: stderr has %d lines, want %d:\n%s", args, n, w.stderrLines, stderr.String())
		}
	}
}
