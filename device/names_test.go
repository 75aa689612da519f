package device

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in   string
		want Device
		bad  bool
	}{
		{in: "cpu", want: Device{}},
		{in: "CPU", want: Device{}},
		{in: "cpu:0", want: Device{}},
		{in: "cuda", want: GPU(0)},
		{in: "cuda:0", want: GPU(0)},
		{in: "cuda:3", want: GPU(3)},
		{in: " Cuda:12 ", want: GPU(12)},
		{in: "1", want: GPU(1)},
		{in: "0", want: GPU(0)},
		{in: "sim7:2", want: Device{Backend: "sim7", Index: 2}},
		{in: "", bad: true},
		{in: "auto", bad: true},
		{in: "cuda:", bad: true},
		{in: "cuda:-1", bad: true},
		{in: "cuda:01", bad: true},
		{in: "cuda:x", bad: true},
		{in: "-1", bad: true},
		{in: "cpu:1", bad: true},
		{in: "gp-u:0", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseDevice(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadDevice) {
				t.Errorf("ParseDevice(%q) = %v, %v; want ErrBadDevice", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if again, err := ParseDevice(got.String()); err != nil || again != got {
			t.Errorf("round trip of %v: %v, %v", got, again, err)
		}
	}
}

func TestCheckWithoutBackend(t *testing.T) {
	err := Check(GPU(0))
	if !errors.Is(err, ErrNoBackend) || !strings.Contains(err.Error(), "-tags cuda") || !strings.Contains(err.Error(), "cuda:0") {
		t.Errorf("Check(cuda:0) without a backend = %v; want ErrNoBackend naming the tag and device", err)
	}
	if err := Check(CPU()); err != nil {
		t.Errorf("Check(cpu) = %v", err)
	}
	_, err = Load(t.Context(), nil, To(GPU(1)))
	if !errors.Is(err, ErrNoBackend) {
		t.Errorf("Load to cuda:1 without a backend = %v", err)
	}
}

func TestCheckIndex(t *testing.T) {
	s := newSim(t, 2, 1<<30, 0)
	if err := Check(s.dev(1)); err != nil {
		t.Errorf("Check(%v) = %v", s.dev(1), err)
	}
	err := Check(s.dev(2))
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), s.name+":2") {
		t.Errorf("Check(%v) = %v; want ErrNoDevice naming it", s.dev(2), err)
	}
}

func TestAuto(t *testing.T) {
	devs, err := Auto()
	if err != nil || len(devs) != 1 || !devs[0].IsCPU() {
		t.Fatalf("Auto() with no backend = %v, %v; want [cpu]", devs, err)
	}
	s := newSim(t, 3, 1<<30, 0)
	devs, err = ParseDevices("auto")
	if err != nil || len(devs) != 3 || devs[2] != s.dev(2) {
		t.Errorf("auto with a 3-device backend = %v, %v", devs, err)
	}
	devs, err = ParseDevices("cpu, 1")
	if err != nil || len(devs) != 2 || devs[1] != GPU(1) {
		t.Errorf("ParseDevices(cpu, 1) = %v, %v", devs, err)
	}
}

func TestParseRules(t *testing.T) {
	if _, err := ParseMap("*.weight=cuda:1"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"nodevice", "=cpu", "[=cpu", "x=gpu:z"} {
		if _, err := ParseMap(bad); err == nil {
			t.Errorf("ParseMap(%q) accepted", bad)
		}
	}
	if _, err := ParseShard("*.q_proj.weight=0@cuda:0,cuda:1"); err != nil {
		t.Error(err)
	}
	if _, err := ParseShard("*.weight=-1"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"x", "x=a", "[=0", "x=0@bogus:q"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

// TestOptionLimits checks the options that take a count or size: at the
// limit they set the config, below it they fail naming themselves.
func TestOptionLimits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opt   func(int) Option
		least int
		field func(config) int
	}{
		{"WithChunkSize", WithChunkSize, minChunkSize, func(c config) int { return c.chunkSize }},
		{"WithChunks", WithChunks, 1, func(c config) int { return c.chunks }},
		{"WithReaders", WithReaders, 1, func(c config) int { return c.readers }},
		{"WithStreams", WithStreams, 1, func(c config) int { return c.streams }},
	} {
		if c := newConfig([]Option{tt.opt(tt.least)}); c.err != nil || tt.field(c) != tt.least {
			t.Errorf("%s(%d): err %v, field %d", tt.name, tt.least, c.err, tt.field(c))
		}
		c := newConfig([]Option{tt.opt(tt.least - 1)})
		if !errors.Is(c.err, ErrPlacement) || !strings.Contains(c.err.Error(), tt.name) {
			t.Errorf("%s(%d): err %v", tt.name, tt.least-1, c.err)
		}
	}
}
