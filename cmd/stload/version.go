package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

var versionCmd = &command{
	name:     "version",
	summary:  "print stload's version, Go version, build tags and whether CUDA is in",
	synopsis: "stload version",
	usage: `Usage: stload version   (also stload --version)

Version prints the module version of stload (for a build from a source
tree, "(devel)" with the VCS revision and whether the tree had
uncommitted changes), the Go version and platform it was built with, its
build tags, and whether the CUDA backend is compiled in (-tags cuda).
`,
}

func init() { versionCmd.run = runVersion }

func runVersion(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	fs := newFlags(versionCmd)
	if _, code, ok := parseCommand(versionCmd, fs, args, 0, 0, stdout, stderr); !ok {
		return code
	}
	bi, _ := debug.ReadBuildInfo()
	_, err := io.WriteString(stdout, versionText(bi, cudaBuild))
	return writeStatus(ctx, err, stderr)
}

// versionText formats what stload version prints from the binary's build
// information (nil when it has none) and whether CUDA is compiled in.
func versionText(bi *debug.BuildInfo, cuda bool) string {
	version, tags := "(unknown)", "none"
	if bi != nil {
		version = bi.Main.Version
		if version == "" {
			version = "(devel)"
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; version == "(devel)" && rev != "" {
			version += " " + rev
			if settings["vcs.modified"] == "true" {
				version += " (modified)"
			}
		}
		if t := settings["-tags"]; t != "" {
			tags = strings.ReplaceAll(t, ",", " ")
		}
	}
	gpu := "no: CPU only (build with -tags cuda for NVIDIA GPUs)"
	if cuda {
		gpu = "yes (needs libcuda.so.1 and a GPU to start)"
	}
	return fmt.Sprintf("stload %s\ngo: %s %s/%s\nbuild tags: %s\ncuda: %s\n",
		version, runtime.Version(), runtime.GOOS, runtime.GOARCH, tags, gpu)
}
