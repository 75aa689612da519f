package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stload/stload/device"
)

func cmdTimeline(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("timeline")
	svg := fs.String("svg", "", "where to write the chart (default: the JSON file's name with .svg)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("give one timeline JSON file")}
	}
	in := fs.Arg(0)
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	tl, err := device.ReadTimeline(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	out := *svg
	if out == "" {
		out = strings.TrimSuffix(in, ".json") + ".svg"
	}
	if err := writeFile(out, func(f *os.File) error { return tl.WriteSVG(f) }, false); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\nchart: %s\n", tl.Summary(), out)
	return err
}
