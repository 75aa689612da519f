package main

import (
	"context"
	"crypto/rand"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

func TestProgressLine(t *testing.T) {
	p := &progressBar{}
	for _, tc := range []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{1.2e9, 3.4e9, 2 * time.Second, "[========>               ]  1.2/3.4 GB  0.60 GB/s  ETA 0:04"},
		{0, 3.4e9, time.Second, "[>                       ]  0.0/3.4 GB"},
		{5.6e9, 5.6e9, time.Second, "[========================]  5.6/5.6 GB  5.60 GB/s"},
		{7e9, 5.6e9, time.Second, "[========================]  5.6/5.6 GB  5.60 GB/s"},
		{100e3, 213632, time.Millisecond, "[===========>            ]  100.0/213.6 kB  0.10 GB/s  ETA 0:01"},
		{1e9, 9e12, 10 * time.Second, "[>                       ]  0.0/9.0 TB  0.10 GB/s  ETA 24:59:50"},
		{31.2e9, 64e9, time.Second, "[===========>            ]  31.2/64.0 GB  31.2 GB/s  ETA 0:02"},
		{10, 20, time.Second, "[============>           ]  10.0/20.0 B  0.000000010 GB/s  ETA 0:01"},
	} {
		if got := p.line(tc.done, tc.total, tc.elapsed); got != tc.want {
			t.Errorf("line(%d, %d, %v)\n got %q\nwant %q", tc.done, tc.total, tc.elapsed, got, tc.want)
		}
	}
}

// TestRateText checks the one format of rates: GB/s with two or three
// significant digits, a slow rate still more than zero.
func TestRateText(t *testing.T) {
	for _, tc := range []struct {
		gbps float64
		want string
	}{
		{0, "-"}, {-1, "-"}, {123.4, "123"}, {31.25, "31.2"}, {5.612, "5.61"}, {1, "1.00"},
		{0.5234, "0.52"}, {0.05234, "0.052"}, {0.005234, "0.0052"}, {0.0001, "0.00010"},
	} {
		if got := rateText(tc.gbps); got != tc.want {
			t.Errorf("rateText(%g) = %q, want %q", tc.gbps, got, tc.want)
		}
	}
}

// otherRates returns the rates in s that are not in GB/s ("600.0 MB/s").
func otherRates(s string) []string {
	var other []string
	for _, m := range regexp.MustCompile(`[0-9.]+ ([A-Za-z]+)/s\b`).FindAllStringSubmatch(s, -1) {
		if m[1] != "GB" {
			other = append(other, m[0])
		}
	}
	return other
}

// TestProgressDraw checks the redraw in place, the padding of a shorter
// line, and the erasing at the end.
func TestProgressDraw(t *testing.T) {
	var b strings.Builder
	now := time.Unix(100, 0)
	p := &progressBar{w: &b, start: now, now: func() time.Time { return now.Add(time.Second) }}
	p.update(0, 0) // nothing to copy: nothing drawn
	p.update(1e6, 2e6)
	first := b.String()
	if first != "\r[============>           ]  1.0/2.0 MB  0.0010 GB/s  ETA 0:01" {
		t.Fatalf("first draw %q", first)
	}
	p.update(2e6, 2e6)
	second := strings.TrimPrefix(b.String(), first)
	if !strings.HasPrefix(second, "\r[========================]  2.0/2.0 MB  0.0020 GB/s") || len(second) != len(first) {
		t.Errorf("second draw %q does not cover the first", second)
	}
	p.done()
	// The padding is blank already: erasing the last line's text is enough.
	if end := strings.TrimPrefix(b.String(), first+second); end != "\r"+strings.Repeat(" ", len(strings.TrimRight(second, " "))-1)+"\r" {
		t.Errorf("erase %q", end)
	}
	n := b.Len()
	p.update(1, 2)
	p.done()
	if b.Len() != n {
		t.Error("drew after done")
	}
	var nilBar *progressBar
	nilBar.update(1, 2)
	nilBar.done()
}

// syncBuffer is a strings.Builder safe for the progress goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProgressOnlyOnTerminal checks that load and convert draw a bar on
// standard error when it is a terminal, and are silent otherwise and
// under --json.
func TestProgressOnlyOnTerminal(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		args     []string
		terminal bool
		bar      bool
		also     string // more that stderr must show
	}{
		{"load", []string{"load", "--copy", tinyLlamaPath}, true, true, ""},
		{"load verify", []string{"load", "--copy", "--verify", tinyLlamaPath}, true, true, "\rverifying 213.6 kB against the file..."},
		{"load dtype", []string{"load", "--dtype", "f32", tinyLlamaPath}, true, true, ""},
		{"load views", []string{"load", tinyLlamaPath}, true, false, ""}, // nothing to copy
		{"load json", []string{"load", "--copy", "--json", tinyLlamaPath}, true, false, ""},
		{"load pipe", []string{"load", "--copy", tinyLlamaPath}, false, false, ""},
		{"convert", []string{"convert", tinyLlamaPath, filepath.Join(dir, "a.safetensors")}, true, true, "213.6/213.6 kB"},
		{"convert syncing", []string{"convert", tinyLlamaPath, filepath.Join(dir, "a.safetensors")}, true, true, "/s  syncing"},
		{"convert dtype", []string{"convert", "--dtype", "f16", tinyLlamaPath, filepath.Join(dir, "b.safetensors")}, true, true, " syncing"},
		{"convert split", []string{"convert", "--max-shard-size", "100kB", tinyLlamaPath, filepath.Join(dir, "c")}, true, true, " syncing"},
		{"convert pipe", []string{"convert", tinyLlamaPath, filepath.Join(dir, "d.safetensors")}, false, false, ""},
		{"inspect sha256", []string{"inspect", "--sha256", tinyLlamaPath}, true, true, ""},
		{"inspect sha256 json", []string{"inspect", "--json", "--sha256", tinyLlamaPath}, true, true, ""},
		{"inspect sha256 pipe", []string{"inspect", "--sha256", tinyLlamaPath}, false, false, ""},
		{"inspect", []string{"inspect", tinyLlamaPath}, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			var errb syncBuffer
			if code := runOn(tty(tc.terminal), tc.args, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			got := errb.String()
			switch {
			case !tc.bar && got != "":
				t.Errorf("stderr %q, want nothing", got)
			case tc.bar && (!strings.HasPrefix(got, "\r[") || !strings.Contains(got, "kB") || !strings.HasSuffix(got, " \r")):
				t.Errorf("stderr %q, want a bar that is erased at the end", got)
			}
			if !strings.Contains(got, tc.also) {
				t.Errorf("stderr %q lacks %q", got, tc.also)
			}
			if tc.bar && !strings.Contains(got, " GB/s") || otherRates(got) != nil {
				t.Errorf("stderr %q: rates %q, want GB/s", got, otherRates(got))
			}
			if strings.Contains(out.String(), "\r") {
				t.Errorf("a bar on stdout: %q", out.String())
			}
		})
	}
}

// BenchmarkLoadProgress loads a 64 MiB file onto the CPU (copying, so
// that every byte moves) without a progress bar ("off"), with one redrawn
// as the CLI redraws it, every 100 ms ("on"), and with one redrawn every
// millisecond ("on-1ms", a hundred times as often), to show that
// reporting progress costs nothing measurable at the CLI's rate:
//
//	go test -run '^$' -bench LoadProgress -count 8 -benchtime 30x ./cmd/stload
//
// The loader is reused across iterations, and each iteration's memory is
// freed before the next, so that the heap's pages are reused rather than
// freshly faulted in (which on some VMs costs more than the copy).
func BenchmarkLoadProgress(b *testing.B) {
	const size = 64 << 20
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	data := map[string]loader.Data{}
	for i := range 16 {
		buf := make([]byte, size/16)
		rand.Read(buf)
		data["layers."+string(rune('a'+i))+".weight"] = loader.Data{DType: dtype.U8, Shape: []uint64{size / 16}, Bytes: buf}
	}
	if err := loader.SaveFile(path, data, nil); err != nil {
		b.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, bc := range []struct {
		name  string
		every time.Duration // 0: no progress
	}{{"off", 0}, {"on", progressInterval}, {"on-1ms", time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			l := device.NewPlacer(device.On(device.CPU()), device.WithCopy())
			defer l.Close()
			var opts []device.Option
			if bc.every > 0 {
				bar := &progressBar{w: io.Discard, start: time.Now(), now: time.Now}
				opts = append(opts, device.WithProgress(bar.update, bc.every))
			}
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				set, err := l.Load(context.Background(), device.Files(f), opts...)
				if err != nil {
					b.Fatal(err)
				}
				set.Close()
			}
		})
	}
}
