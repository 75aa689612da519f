package main

import (
	"flag"

	"github.com/stload/stload/loader"
)

// inputOptions are the flags that decide how a command opens its input.
type inputOptions struct {
	lenient bool
}

// addInputFlags registers the input flags every reading command shares.
func addInputFlags(fs *flag.FlagSet, o *inputOptions) {
	fs.BoolVar(&o.lenient, "lenient", false, "")
}

func (o inputOptions) loaderOptions() []loader.Option {
	var opts []loader.Option
	if o.lenient {
		opts = append(opts, loader.WithLenient())
	}
	return opts
}

// openInput opens what a command line names as its input and validates
// it. Every command opens its input here and nowhere else, so that the
// other kinds of input planned for the commands (a directory, a
// transformers index.json, a URL) are added in this one place.
//
// Today name is the path of one safetensors file, memory-mapped read-only
// (with pread where mapping fails). Errors are *loader.Error values whose
// kind (loader.Kind) is the reference's variant name, or IoError for a
// file that cannot be opened or read.
func openInput(name string, o inputOptions) (*loader.File, error) {
	return loader.Open(name, o.loaderOptions()...)
}
