package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/stload/stload/loader/checkpoint"
	"github.com/stload/stload/loader/httprange"
)

// destination is where convert writes, resolved from OUT and checked
// before any tensor is read.
type destination struct {
	path    string // the output file, or the directory of a sharded checkpoint
	sharded bool
	created string // a directory made for the output, removed again on failure
	// replaces is set for a single file written beside a sharded
	// checkpoint of its name (PREFIX.safetensors beside
	// PREFIX.safetensors.index.json or PREFIX-0000k-of-0000n shards): the
	// prefix, which checkpoint.Save writes as one file, retiring the
	// old index and shards.
	replaces string
}

// abandon removes what resolveOut created, after a failure: the
// directory of "convert FILE newdir/", which the writer left empty.
func (d destination) abandon() {
	if d.created != "" {
		os.Remove(d.created)
	}
}

// checkOutName refuses an OUT that convert would write as something other
// than what its name says: "convert ckpt out.json" would otherwise make a
// directory named out.json, or a safetensors file with a .json name, and
// "convert --max-shard-size 5GB in.safetensors out.safetensors" (sharded)
// a directory named out.safetensors, which tools globbing *.safetensors
// take for a file. An OUT written as a URL ("http://host/x.safetensors")
// is refused too: convert would take it for a path. The error names OUT
// as given: errorMessage redacts it where it is printed.
func checkOutName(out string, sharded bool) error {
	base := filepath.Base(filepath.Clean(out))
	lower := strings.ToLower(base)
	switch {
	case looksLikeURL(out):
		return fmt.Errorf("OUT %q is a URL: convert writes local files; name a file (out.safetensors) or a directory (out/)", out)
	case strings.HasSuffix(lower, ".json"):
		return fmt.Errorf("OUT %q ends in .json: convert writes a .safetensors file or a checkpoint directory, whose index it names itself; name the file (out.safetensors) or the directory (out/)", out)
	case sharded && strings.HasSuffix(lower, ".safetensors") && len(base) > len(".safetensors"):
		return fmt.Errorf("OUT %q ends in .safetensors, but --max-shard-size writes a checkpoint directory: give a directory (%s/)",
			out, base[:len(base)-len(".safetensors")])
	}
	return nil
}

// looksLikeURL reports whether an argument is written as a URL of some
// scheme ("http://", "s3://"; two or more letters, so not a drive "C:/").
func looksLikeURL(arg string) bool {
	scheme, _, ok := strings.Cut(arg, "://")
	if !ok || len(scheme) < 2 || !isLetter(scheme[0]) {
		return false
	}
	for i := range len(scheme) {
		if c := scheme[i]; !isLetter(c) && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false // not a scheme (RFC 3986, 3.1)
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isDirName reports whether out ends in a path separator: a directory.
func isDirName(out string) bool {
	return strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator))
}

// checkOutParent checks, before the input is opened, that the directory
// that will receive the output exists and is writable: OUT itself when it
// is an existing directory, else the directory OUT is in.
func checkOutParent(out string) error {
	dir := filepath.Dir(filepath.Clean(out))
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		dir = out
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: directory %s does not exist (convert creates only the last directory of OUT)", out, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", out, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a directory", out, dir)
	}
	if err := writable(dir); err != nil {
		return fmt.Errorf("%s: cannot write in directory %s: %w", out, dir, err)
	}
	return nil
}

// resolveOut decides where convert writes, now that the input is open:
// the directory OUT for a sharded output; else the file OUT, or, when OUT
// is a directory (existing, or named with a trailing "/" and then created
// here), the input's file name inside it. It refuses when the file system
// lacks the room for the output: size tensor bytes plus the headers.
func resolveOut(e *env, c *checkpoint.Checkpoint, out string, sharded bool, size int64) (destination, error) {
	d := destination{path: filepath.Clean(out), sharded: sharded}
	fi, err := os.Stat(out)
	exists, isDir := err == nil, err == nil && fi.IsDir()
	room := filepath.Dir(d.path) // the directory whose file system gets the bytes
	switch {
	case sharded && exists && !isDir:
		return d, fmt.Errorf("%s exists and is not a directory: a sharded checkpoint is written into a directory", out)
	case sharded && isDir:
		room = d.path
	case !sharded && (isDir || isDirName(out)):
		room = d.path
		if !exists {
			room = filepath.Dir(d.path)
		}
		d.path = filepath.Join(d.path, inputBase(c))
		if fi, err := os.Stat(d.path); err == nil && fi.IsDir() {
			return d, fmt.Errorf("%s is a directory", d.path)
		}
	}
	for _, f := range c.Files() {
		size += 8 + f.HeaderSize() // about the size of the new header
	}
	if avail, err := e.freeSpace(room); err == nil && avail < size {
		return d, fmt.Errorf("%s: not enough space: the output needs %s (%s bytes), the file system of %s has %s free",
			out, sizeText(size), groupDigits(uint64(size)), room, sizeText(avail))
	}
	if !sharded {
		d.replaces = shardsOf(d.path)
	}
	if !sharded && isDirName(out) && !exists {
		if err := os.Mkdir(filepath.Clean(out), 0o777); err != nil {
			return d, err
		}
		d.created = filepath.Clean(out)
	}
	return d, nil
}

// inputBase is the file name a single-file output gets in a directory
// OUT: the input file's ("convert a.safetensors dir/" writes
// dir/a.safetensors), model.safetensors for a merged checkpoint.
func inputBase(c *checkpoint.Checkpoint) string {
	if c.Sharded() {
		return "model.safetensors" // what transformers names an unsharded checkpoint
	}
	name := c.Files()[0].Name()
	if httprange.IsURL(name) {
		name, _, _ = strings.Cut(name, "?")
		return path.Base(name)
	}
	return filepath.Base(name)
}

// shardsOf returns the prefix of a sharded checkpoint in the directory of
// file that a file of that name would be mistaken for, or leave behind:
// "model" when file is DIR/model.safetensors and DIR holds
// model.safetensors.index.json or model-0000k-of-0000n.safetensors
// shards. WriteFile would leave these, so that the directory would hold
// the old checkpoint (which Open prefers) beside the new file (which
// transformers prefers). It returns "" when there is none.
func shardsOf(file string) string {
	prefix, ok := strings.CutSuffix(filepath.Base(file), ".safetensors")
	if !ok || prefix == "" {
		return ""
	}
	dir := filepath.Dir(file)
	if _, err := os.Lstat(filepath.Join(dir, prefix+checkpoint.IndexSuffix)); err == nil {
		return prefix
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if p, _, _, ok := checkpoint.ParseShardName(e.Name()); ok && p == prefix {
			return prefix
		}
	}
	return ""
}
