package device_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

// TestLoadNilSource: a nil Source, a nil *checkpoint.Checkpoint in one, a
// nil file and a nil plan are errors, never panics.
func TestLoadNilSource(t *testing.T) {
	f := writeFile(t, t.TempDir(), "m.safetensors", 30, layered(1, dtype.F32, 4))
	var nilCkpt *checkpoint.Checkpoint
	for name, src := range map[string]device.Source{
		"nil Source":     nil,
		"nil checkpoint": nilCkpt,
		"nil file":       device.Files(f, nil),
	} {
		set, err := device.Load(t.Context(), src)
		var e *device.Error
		if set != nil || !errors.As(err, &e) || !errors.Is(err, device.ErrPlacement) || !strings.Contains(err.Error(), "nil") {
			t.Errorf("%s: %v, %v; want a *device.Error", name, set, err)
		}
	}
	p := device.NewPlacer()
	defer p.Close()
	if _, err := p.Execute(t.Context(), nil); !errors.Is(err, device.ErrPlacement) {
		t.Errorf("Execute(nil): %v", err)
	}
}

// TestPlanCloseExecute closes a file between Plan and Execute: Execute
// fails with fs.ErrClosed, returns no Set and leaves nothing allocated
// (the simulated backend checks), on the CPU and on an accelerator.
func TestPlanCloseExecute(t *testing.T) {
	s := install(t, 1, 1<<30, 0)
	for _, dev := range []device.Device{device.CPU(), s.Device(0)} {
		f := writeFile(t, t.TempDir(), "m.safetensors", 31, mixed())
		p := device.NewPlacer(device.On(dev))
		plan, err := p.Plan(device.Files(f))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		set, err := p.Execute(t.Context(), plan)
		if set != nil || !errors.Is(err, fs.ErrClosed) || loader.Kind(err) != "Closed" {
			t.Errorf("%v: Execute after Close = %v, %v; want fs.ErrClosed", dev, set, err)
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestLoadTruncated truncates the file between Plan and Execute, as
// another process might while a model loads: reads of the mapping's lost
// pages fault (SIGBUS), which must come back as an error naming the file,
// with no Set and nothing left allocated, not kill the test. Verify of
// CPU views of the lost pages fails the same way.
func TestLoadTruncated(t *testing.T) {
	s := install(t, 2, 1<<30, 0)
	noDirect := device.WithTuning(device.Tuning{NoDirectIO: true}) // read the mapping, whatever the page cache holds
	for _, tt := range []struct {
		name string
		opts []device.Option
	}{
		{"CPU copies", []device.Option{device.WithCopy()}},
		{"CPU conversion", []device.Option{device.WithDType(dtype.F16)}},
		{"staged", []device.Option{device.On(s.Device(0)), noDirect}},
		{"staged conversion", []device.Option{device.On(s.Device(0)), device.WithDType(dtype.F16), noDirect}},
		{"split over a device and the CPU", []device.Option{device.On(s.Device(0)), noDirect, device.WithDType(dtype.F16),
			device.Shard("big", 1, s.Device(1), device.CPU())}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFile(t, t.TempDir(), "m.safetensors", 32, mixed())
			p := device.NewPlacer(append(tt.opts, device.WithChunkSize(16<<10))...)
			defer p.Close()
			plan, err := p.Plan(device.Files(f))
			if err != nil {
				t.Fatal(err)
			}
			truncate(t, f)
			set, err := p.Execute(t.Context(), plan)
			if set != nil || err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), f.Name()) {
				t.Fatalf("load of a truncated file = %v, %v", set, err)
			}
			t.Log(err)
		})
	}
	t.Run("verify of views", func(t *testing.T) {
		f := writeFile(t, t.TempDir(), "m.safetensors", 33, mixed())
		set := load(t, []*loader.File{f})
		truncate(t, f)
		err := set.Verify(t.Context())
		if err == nil || !strings.Contains(err.Error(), "truncated") || loader.Kind(err) != "IoError" {
			t.Fatalf("Verify after truncation = %v (kind %q)", err, loader.Kind(err))
		}
		t.Log(err)
	})
}

// truncate cuts f's file to a page past the start of its data, so that
// the larger tensors' pages are gone from under the mapping.
func truncate(t *testing.T, f *loader.File) {
	t.Helper()
	if err := os.Truncate(f.Name(), dataOffset(f)+100); err != nil {
		t.Fatal(err)
	}
}

// stallingReader serves a file's header from memory and never its data:
// ReadAtContext waits for its context, ReadAt for 30 seconds, as a remote
// file on a server that stopped sending would.
type stallingReader struct{ head []byte }

func (s stallingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= int64(len(s.head)) {
		return copy(p, s.head[off:]), nil
	}
	time.Sleep(30 * time.Second)
	return 0, errors.New("stalled")
}

func (s stallingReader) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= int64(len(s.head)) {
		return copy(p, s.head[off:]), nil
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestLoadCancelStalledReads cancels a load whose reads stall: Load must
// return soon after the cancel, with the context's error, because it
// hands its context to readers that take one (httprange.Reader does),
// not after the reads' own timeouts.
func TestLoadCancelStalledReads(t *testing.T) {
	s := install(t, 1, 1<<30, 0)
	src := writeFile(t, t.TempDir(), "m.safetensors", 33, mixed())
	b, err := os.ReadFile(src.Name())
	if err != nil {
		t.Fatal(err)
	}
	headEnd := 8 + int64(binary.LittleEndian.Uint64(b))
	for _, tt := range []struct {
		name string
		opts []device.Option
	}{
		{"CPU copies", []device.Option{device.WithCopy()}},
		{"CPU conversion", []device.Option{device.WithDType(dtype.F16)}},
		{"staged", []device.Option{device.On(s.Device(0))}},
		{"staged conversion", []device.Option{device.On(s.Device(0)), device.WithDType(dtype.F16)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := loader.NewReader(stallingReader{b[:headEnd]}, int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			set, err := device.Load(ctx, device.Files(f), tt.opts...)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Load returned %v after the cancel", d)
			}
			if set != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Load = %v, %v; want the context's error", set, err)
			}
		})
	}
}
