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
			if err == nil && f.Len() != n {
				err = fmt.Errorf("got %d tensors", f.Len())
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
	if err := interleave(3*s.o.Rounds, stMem, peerMem, stOpen, peerOpen); err != nil {
		return err
	}
	s.add(stMem.fig, peerMem.fig, stOpen.fig, peerOpen.fig)
	s.rep.Ratios = append(s.rep.Ratios,
		ratio("parse 10k-tensor header: stload / nlpodyssey (in memory)", stMem.fig, peerMem.fig, 6),
		ratio("open 10k-tensor file: stload Open / nlpodyssey ReadFile+Deserialize", stOpen.fig, peerOpen.fig, 0),
	)
	return nil
}
