package loader

import "io"

// save writes tensors and metadata to w as SaveFile writes them to a file.
func save(w io.Writer, tensors map[string]Data, metadata map[string]string) error {
	sw, err := NewWriter(w, specsOf(tensors), metadata)
	if err != nil {
		return err
	}
	sw.writeData(tensors)
	return sw.Close()
}

// sliceOf slices the named tensor of f.
func sliceOf(f *File, name string, idx ...Index) (*Slice, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	return t.Slice(idx...)
}

// count returns the number of tensors of f.
func count(f *File) int { return len(f.tensors) }

// dataOffset returns where f's data section starts.
func dataOffset(f *File) int64 { return 8 + f.HeaderSize() }
