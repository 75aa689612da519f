package bench

import (
	"bytes"
	"fmt"
	"os"

	nlp "github.com/nlpodyssey/safetensors"

	"github.com/stload/stload/loader"
)

// parse times opening a file of many small tensors: the header parse and
// validation alone, on bytes already in memory for both libraries, and
// each library's natural open of the file on disk.
func (s *cpuSuite) parse() error {
	n := s.o.HeaderTensors
	path := s.filePath(fmt.Sprintf("many-%d.safetensors", n))
	gf, err := s.generate(GenRequest{Kind: KindMany, Tensors: n, Out: path})
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	hdr, err := loader.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	hsize := hdr.HeaderSize()
	// Bytes is the header: GB/s of JSON parsed, and µs per tensor is shown
	// beside it in the table.
	mk := func(impl, name string) *Figure {
		return &Figure{Group: "parse", Impl: impl, Threads: 1, Bytes: hsize, Tensors: n, Name: name}
	}
	stMem := &contender{fig: mk("stload", "loader.NewReader(bytes.Reader) — header parse + validation, in memory"),
		run: func() error {
			f, err := loader.NewReader(bytes.NewReader(data), int64(len(data)))
			if err == nil {
				if got := countTensors(f); got != n {
					err = fmt.Errorf("got %d tensors", got)
				}
			}
			return err
		}}
	peerMem := &contender{fig: mk("nlpodyssey", "safetensors.Deserialize([]byte) — header parse + validation, in memory"),
		run: func() error {
			st, err := nlp.Deserialize(data)
			if err == nil && st.Len() != n {
				err = fmt.Errorf("got %d tensors", st.Len())
			}
			return err
		}}
	stOpen := &contender{fig: mk("stload", "loader.Open(path) + Close — mmap, parse, munmap"),
		run: func() error {
			f, err := loader.Open(path)
			if err != nil {
				return err
			}
			return f.Close()
		}}
	peerOpen := &contender{fig: mk("nlpodyssey", "os.ReadFile(path) + Deserialize — its natural open"),
		run: func() error {
			b, err := os.ReadFile(path)
			if err == nil {
				_, err = nlp.Deserialize(b)
			}
			return err
		}}
	peerOpen.fig.Note = fmt.Sprintf("reads the whole %s file, data included", fmtBytes(gf.Bytes))
	// The same four with the freed heap kept in the process: the parsers'
	// own speed, which the goal is stated for. The runs above return the
	// heap to the OS first, as a fresh process has it, so their
	// allocations pay for fresh pages.
	warm := make([]*contender, 4)
	for i, c := range []*contender{stMem, peerMem, stOpen, peerOpen} {
		fig := *c.fig
		fig.Name += ", warm heap"
		c.fig.Name += ", fresh heap"
		warm[i] = &contender{fig: &fig, run: c.run, warmHeap: true}
	}
	all := append([]*contender{stMem, peerMem, stOpen, peerOpen}, warm...)
	if err := interleave(3*s.o.Rounds, all...); err != nil {
		return err
	}
	for _, c := range all {
		s.add(c.fig)
	}
	s.rep.Ratios = append(s.rep.Ratios,
		ratio("parse 10k-tensor header: stload / nlpodyssey (in memory, warm heap)", warm[0].fig, warm[1].fig, 6),
		ratio("parse 10k-tensor header: stload / nlpodyssey (in memory, fresh heap)", stMem.fig, peerMem.fig, 0),
		ratio("open 10k-tensor file: stload Open / nlpodyssey ReadFile+Deserialize (warm heap)", warm[2].fig, warm[3].fig, 0),
		ratio("open 10k-tensor file: stload Open / nlpodyssey ReadFile+Deserialize (fresh heap)", stOpen.fig, peerOpen.fig, 0),
	)
	return nil
}

// countTensors returns the number of tensors of f.
func countTensors(f *loader.File) int {
	n := 0
	for range f.Tensors() {
		n++
	}
	return n
}
