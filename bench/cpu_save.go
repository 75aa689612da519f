package bench

import (
	"fmt"
	"io"
	"os"

	nlp "github.com/nlpodyssey/safetensors"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// peerDTypes maps the element types nlpodyssey knows.
var peerDTypes = map[dtype.DType]nlp.DType{
	dtype.BOOL: nlp.BOOL, dtype.U8: nlp.U8, dtype.I8: nlp.I8, dtype.I16: nlp.I16, dtype.U16: nlp.U16,
	dtype.F16: nlp.F16, dtype.BF16: nlp.BF16, dtype.I32: nlp.I32, dtype.U32: nlp.U32, dtype.F32: nlp.F32,
	dtype.F64: nlp.F64, dtype.I64: nlp.I64, dtype.U64: nlp.U64,
}

func peerDType(d dtype.DType) (nlp.DType, error) {
	p, ok := peerDTypes[d]
	if !ok {
		return 0, fmt.Errorf("nlpodyssey has no %v", d)
	}
	return p, nil
}

// save times writing the Llama-shaped file's tensors, held in memory, to a
// new file: stload's Save to an *os.File and nlpodyssey's two ways, against
// one write() per tensor of the very same bytes; with Durable, also the
// saves that fsync.
func (s *cpuSuite) save() error {
	path := s.filePath(fmt.Sprintf("llama-%s.safetensors", sizeTag(s.o.ReadSize)))
	if _, err := os.Stat(path); err != nil {
		if _, err := s.generate(GenRequest{Kind: KindLlama, Size: s.o.ReadSize, Out: path}); err != nil {
			return err
		}
	}
	in, err := loadSaveInput(path)
	if err != nil {
		return err
	}
	defer in.src.Close()
	tg := &saveTargets{s: s}
	c := s.saveContenders(in, tg)
	cs, err := s.runSave(c)
	tg.clean()
	if err != nil {
		return err
	}
	for _, c := range cs {
		s.add(c.fig)
	}
	s.rep.Ratios = append(s.rep.Ratios, c.ratios()...)
	return nil
}

// saveInput is the save group's source: the file's bytes in memory, seen
// as each library takes its tensors.
type saveInput struct {
	src         *loader.File
	tensors     map[string]loader.Data
	peerTensors map[string]nlp.TensorView
	// pieces are the file's header and tensors in file order, for the
	// write() ceiling.
	pieces [][]byte
	meta   map[string]string
	size   int64
}

// loadSaveInput reads the file at path into memory; the caller closes
// src.
func loadSaveInput(path string) (*saveInput, error) {
	src, err := loader.Open(path, loader.WithPread())
	if err != nil {
		return nil, err
	}
	in, err := newSaveInput(src)
	if err != nil {
		src.Close()
		return nil, err
	}
	return in, nil
}

// newSaveInput reads all of src into one buffer and views its tensors
// there as each library takes them.
func newSaveInput(src *loader.File) (*saveInput, error) {
	all := touchedBuffers(1, int(src.Size()))[0]
	if _, err := src.ReadAt(all, 0); err != nil {
		return nil, err
	}
	in := &saveInput{src: src, tensors: make(map[string]loader.Data, countTensors(src))}
	in.peerTensors = make(map[string]nlp.TensorView, len(in.tensors))
	in.pieces = [][]byte{all[:8+src.HeaderSize()]}
	for name, t := range src.Tensors() {
		b := all[t.Offset() : t.Offset()+(t.End-t.Begin)]
		in.tensors[name] = loader.Data{DType: t.DType, Shape: t.Shape, Bytes: b}
		pd, err := peerDType(t.DType)
		if err != nil {
			return nil, err
		}
		if in.peerTensors[name], err = nlp.NewTensorView(pd, t.Shape, b); err != nil {
			return nil, err
		}
		in.pieces = append(in.pieces, b)
	}
	in.meta = src.Metadata()
	in.size = src.Size()
	return in, nil
}

// saveTargets names the save group's output files and removes them
// between runs.
type saveTargets struct {
	s     *cpuSuite
	paths []string
}

// target returns the path of the output file called name.
func (tg *saveTargets) target(name string) string {
	p := tg.s.filePath("save-" + name + ".safetensors")
	tg.paths = append(tg.paths, p)
	return p
}

// clean removes every output file. Every run starts from no output file
// at all, so that no run pays for truncating another's file, and from a
// synced file system, so that the journal commits, block frees and
// discards that deleting an fsynced file leaves behind (the disk is
// mounted with discard) land here, untimed, instead of on whichever run
// comes next.
func (tg *saveTargets) clean() error {
	for _, p := range tg.paths {
		if err := removeIfExists(p); err != nil {
			return err
		}
	}
	syncAll()
	return nil
}

// saveContenders are the save group's contenders by role; the durable
// ones are nil without Durable.
type saveContenders struct {
	ceil, st, peerW, peerS *contender
	dCeil, dSt, dPeer      *contender
}

// saveContenders builds the save group's contenders, all writing to
// their own target.
func (s *cpuSuite) saveContenders(in *saveInput, tg *saveTargets) *saveContenders {
	mk := func(impl, name string) *Figure {
		return &Figure{Group: "save", Impl: impl, Threads: 1, Bytes: in.size, Tensors: len(in.tensors), Name: name}
	}
	peerWrite := func(f *os.File) error { return nlp.SerializeToWriter(in.peerTensors, in.meta, f) }
	c := &saveContenders{}
	c.ceil = writeCeiling("save", tg.target("ceiling"), in.pieces, false)
	c.ceil.setup = tg.clean
	c.st = &contender{fig: mk("stload", "loader.NewWriter(*os.File, specs, meta) + Write each tensor — no fsync"), setup: tg.clean,
		run: creating(tg.target("stload"), func(f *os.File) error { return save(f, in.tensors, in.meta) }, false)}
	c.peerW = &contender{fig: mk("nlpodyssey", "safetensors.SerializeToWriter(tensors, meta, *os.File) — no fsync"), setup: tg.clean,
		run: creating(tg.target("nlp-writer"), peerWrite, false)}
	serialPath := tg.target("nlp-serialize")
	c.peerS = &contender{fig: mk("nlpodyssey", "safetensors.Serialize → []byte + os.WriteFile — no fsync"), setup: tg.clean,
		run: func() error {
			b, err := nlp.Serialize(in.peerTensors, in.meta)
			if err != nil {
				return err
			}
			return os.WriteFile(serialPath, b, 0o644)
		}}
	c.peerS.fig.Note = "builds the whole file in a fresh buffer first: see the read group's alloc line"
	if s.o.Durable {
		c.dCeil = writeCeiling("save", tg.target("ceiling-sync"), in.pieces, true)
		c.dCeil.setup = tg.clean
		savePath := tg.target("stload-savefile")
		c.dSt = &contender{fig: mk("stload", "loader.SaveFile — temp file, fsync, rename"), setup: tg.clean,
			run: func() error { return loader.SaveFile(savePath, in.tensors, in.meta) }}
		c.dPeer = &contender{fig: mk("nlpodyssey", "safetensors.SerializeToWriter(*os.File) + fsync"), setup: tg.clean,
			run: creating(tg.target("nlp-writer-sync"), peerWrite, true)}
	}
	return c
}

// creating returns a run that writes a new file at p with write.
func creating(p string, write func(f *os.File) error, durable bool) func() error {
	return func() error { return writeFile(p, write, durable) }
}

// runSave interleaves the page-cache saves, then the durable ones, and
// returns every contender that ran, in order.
func (s *cpuSuite) runSave(c *saveContenders) ([]*contender, error) {
	cs := []*contender{c.ceil, c.st, c.peerW, c.peerS}
	s.logf("save: %d contenders × %d rounds", len(cs), s.o.Rounds)
	if err := interleave(s.o.Rounds, cs...); err != nil || !s.o.Durable {
		return cs, err
	}
	// The saves that wait for the disk run as a group of their own:
	// interleaved with page-cache saves they would only add the disk's
	// noise to them.
	durable := []*contender{c.dCeil, c.dSt, c.dPeer}
	s.logf("save durable: %d contenders × %d rounds", len(durable), s.o.Rounds)
	err := interleave(s.o.Rounds, durable...)
	return append(cs, durable...), err
}

// ratios compares stload's saves with the write() ceilings and
// nlpodyssey; the goals are issue 4's.
func (c *saveContenders) ratios() []Ratio {
	rs := []Ratio{
		ratio("save: stload Save / write() ceiling", c.st.fig, c.ceil.fig, 0.8),
		ratio("save: stload Save / nlpodyssey SerializeToWriter", c.st.fig, c.peerW.fig, 1.0),
		ratio("save: stload Save / nlpodyssey Serialize + WriteFile", c.st.fig, c.peerS.fig, 1.0),
	}
	if c.dSt != nil {
		rs = append(rs,
			ratio("save durable: stload SaveFile / write()+fsync ceiling", c.dSt.fig, c.dCeil.fig, 0.8),
			ratio("save durable: stload SaveFile / nlpodyssey SerializeToWriter+fsync", c.dSt.fig, c.dPeer.fig, 1.0),
		)
	}
	return rs
}

// save writes tensors and metadata to w with a loader.Writer, each
// tensor's bytes in the order the writer asks for them.
func save(w io.Writer, tensors map[string]loader.Data, meta map[string]string) error {
	specs := make([]loader.Spec, 0, len(tensors))
	for name, d := range tensors {
		specs = append(specs, loader.Spec{Name: name, DType: d.DType, Shape: d.Shape})
	}
	sw, err := loader.NewWriter(w, specs, meta)
	if err != nil {
		return err
	}
	for _, s := range sw.Tensors() {
		if _, err := sw.Write(tensors[s.Name].Bytes); err != nil {
			return err
		}
	}
	return sw.Close()
}
