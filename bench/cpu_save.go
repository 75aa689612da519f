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
	src, err := loader.Open(path, loader.WithPread())
	if err != nil {
		return err
	}
	defer src.Close()
	all := touchedBuffers(1, int(src.Size()))[0]
	if _, err := src.ReadAt(all, 0); err != nil {
		return err
	}
	tensors := make(map[string]loader.Data, countTensors(src))
	peerTensors := make(map[string]nlp.TensorView, len(tensors))
	pieces := [][]byte{all[:8+src.HeaderSize()]}
	for name, t := range src.Tensors() {
		b := all[t.Offset() : t.Offset()+t.Len()]
		tensors[name] = loader.Data{DType: t.DType, Shape: t.Shape, Bytes: b}
		pd, err := peerDType(t.DType)
		if err != nil {
			return err
		}
		if peerTensors[name], err = nlp.NewTensorView(pd, t.Shape, b); err != nil {
			return err
		}
		pieces = append(pieces, b)
	}
	meta := src.Metadata()
	size := src.Size()

	targets := []string{}
	target := func(name string) string {
		p := s.filePath("save-" + name + ".safetensors")
		targets = append(targets, p)
		return p
	}
	// Every run starts from no output file at all, so that no run pays for
	// truncating another's file, and from a synced file system, so that the
	// journal commits, block frees and discards that deleting an fsynced
	// file leaves behind (the disk is mounted with discard) land here,
	// untimed, instead of on whichever run comes next.
	clean := func() error {
		for _, p := range targets {
			if err := removeIfExists(p); err != nil {
				return err
			}
		}
		syncAll()
		return nil
	}
	mk := func(impl, name string) *Figure {
		return &Figure{Group: "save", Impl: impl, Threads: 1, Bytes: size, Tensors: len(tensors), Name: name}
	}
	create := func(p string, write func(f *os.File) error, durable bool) func() error {
		return func() error { return writeFile(p, write, durable) }
	}
	ceil := writeCeiling("save", target("ceiling"), pieces, false)
	ceil.setup = clean
	st := &contender{fig: mk("stload", "loader.NewWriter(*os.File, specs, meta) + Write each tensor — no fsync"), setup: clean,
		run: create(target("stload"), func(f *os.File) error { return save(f, tensors, meta) }, false)}
	peerW := &contender{fig: mk("nlpodyssey", "safetensors.SerializeToWriter(tensors, meta, *os.File) — no fsync"), setup: clean,
		run: create(target("nlp-writer"), func(f *os.File) error { return nlp.SerializeToWriter(peerTensors, meta, f) }, false)}
	serialPath := target("nlp-serialize")
	peerS := &contender{fig: mk("nlpodyssey", "safetensors.Serialize → []byte + os.WriteFile — no fsync"), setup: clean,
		run: func() error {
			b, err := nlp.Serialize(peerTensors, meta)
			if err != nil {
				return err
			}
			return os.WriteFile(serialPath, b, 0o644)
		}}
	peerS.fig.Note = "builds the whole file in a fresh buffer first: see the read group's alloc line"
	cs := []*contender{ceil, st, peerW, peerS}
	var dCeil, dSt, dPeer *contender
	if s.o.Durable {
		dCeil = writeCeiling("save", target("ceiling-sync"), pieces, true)
		dCeil.setup = clean
		savePath := target("stload-savefile")
		dSt = &contender{fig: mk("stload", "loader.SaveFile — temp file, fsync, rename"), setup: clean,
			run: func() error { return loader.SaveFile(savePath, tensors, meta) }}
		dPeer = &contender{fig: mk("nlpodyssey", "safetensors.SerializeToWriter(*os.File) + fsync"), setup: clean,
			run: create(target("nlp-writer-sync"), func(f *os.File) error { return nlp.SerializeToWriter(peerTensors, meta, f) }, true)}
	}
	s.logf("save: %d contenders × %d rounds", len(cs), s.o.Rounds)
	err = interleave(s.o.Rounds, cs...)
	if err == nil && s.o.Durable {
		// The saves that wait for the disk run as a group of their own:
		// interleaved with page-cache saves they would only add the disk's
		// noise to them.
		durable := []*contender{dCeil, dSt, dPeer}
		s.logf("save durable: %d contenders × %d rounds", len(durable), s.o.Rounds)
		err = interleave(s.o.Rounds, durable...)
		cs = append(cs, durable...)
	}
	clean()
	if err != nil {
		return err
	}
	for _, c := range cs {
		s.add(c.fig)
	}
	s.rep.Ratios = append(s.rep.Ratios,
		ratio("save: stload Save / write() ceiling", st.fig, ceil.fig, 0.8),
		ratio("save: stload Save / nlpodyssey SerializeToWriter", st.fig, peerW.fig, 1.0),
		ratio("save: stload Save / nlpodyssey Serialize + WriteFile", st.fig, peerS.fig, 1.0),
	)
	if s.o.Durable {
		s.rep.Ratios = append(s.rep.Ratios,
			ratio("save durable: stload SaveFile / write()+fsync ceiling", dSt.fig, dCeil.fig, 0.8),
			ratio("save durable: stload SaveFile / nlpodyssey SerializeToWriter+fsync", dSt.fig, dPeer.fig, 1.0),
		)
	}
	return nil
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
