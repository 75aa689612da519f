package loader

import (
	"bytes"
	"io/fs"
	"strings"
)

// notRegular returns the error for a file that is not a regular file, nil
// for one that is. Reading a named pipe or a device could block forever
// or never end; a directory is most likely a sharded checkpoint.
func notRegular(name string, mode fs.FileMode) *Error {
	if mode.IsRegular() {
		return nil
	}
	detail := "not a regular file"
	switch {
	case mode.IsDir():
		detail = "is a directory: open checkpoints with checkpoint.Open"
	case mode&fs.ModeNamedPipe != 0:
		detail += " (a named pipe)"
	case mode&fs.ModeCharDevice != 0:
		detail += " (a character device)"
	case mode&fs.ModeDevice != 0:
		detail += " (a block device)"
	case mode&fs.ModeSocket != 0:
		detail += " (a socket)"
	}
	return &Error{File: name, Detail: detail}
}

// sniffLen is how many bytes of the start of the file explain reads.
const sniffLen = 512

// explain replaces the detail of a length-prefix error with what the file
// looks like when it is obviously something other than a safetensors
// file: its first 8 bytes then make no sense as a header length, and the
// 19-digit "length" they spell would only mislead.
func (f *File) explain(err *Error) {
	head := make([]byte, min(f.size, sniffLen))
	if len(head) == 0 || f.readFull(head, 0) != nil {
		return
	}
	if what := sniff(head, f.name); what != "" {
		err.Detail = "not a safetensors file (looks like " + what + ")"
	}
}

// signatures are the first bytes of formats people mistake for
// safetensors files, or download instead of one.
var signatures = []struct{ magic, what string }{
	{"\x89PNG\r\n\x1a\n", "a PNG image"},
	{"\xff\xd8\xff", "a JPEG image"},
	{"PK\x03\x04", "a ZIP archive, such as a PyTorch .bin or .pt file"},
	{"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8", "a PyTorch pickle"},
	{"GGUF", "a GGUF file"},
	{"\x1f\x8b", "gzip-compressed data"},
	{"\x28\xb5\x2f\xfd", "zstd-compressed data"},
	{"version https://git-lfs", "a Git LFS pointer, not the file it points to"},
}

// sniff names what the start of a file, head, looks like, or returns ""
// when it looks like nothing in particular. name is the file's name.
func sniff(head []byte, name string) string {
	for _, s := range signatures {
		if bytes.HasPrefix(head, []byte(s.magic)) {
			return s.what
		}
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	lower := strings.ToLower(string(text[:min(len(text), 16)]))
	path, _, _ := strings.Cut(name, "?") // a URL's query
	switch {
	case strings.HasPrefix(lower, "<!doctype"), strings.HasPrefix(lower, "<html"):
		return "HTML"
	case strings.HasPrefix(lower, "<?xml"):
		return "XML"
	case len(text) > 0 && text[0] == '{' && strings.HasSuffix(path, ".json"):
		return "a JSON checkpoint index: open it with checkpoint.Open"
	case len(text) > 0 && text[0] == '{':
		return "JSON: a checkpoint index opens with checkpoint.Open"
	case len(text) > 0 && text[0] == '[':
		return "JSON"
	}
	return ""
}
