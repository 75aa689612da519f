package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sizeUnits are the suffixes parseSize accepts, longest first so that
// "GiB" is not read as "B". Decimal units are powers of 1000, as
// transformers' max_shard_size ("5GB") reads them; binary ones powers of
// 1024.
var sizeUnits = []struct {
	suffix string
	size   int64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	{"B", 1},
}

// parseSize parses a byte count as people write it: "5GB" (decimal,
// 5,000,000,000), "512MiB" (binary), "1.5GB", "100kB", or a plain number
// of bytes. Units are case-insensitive and may be separated from the
// number by a space. The result must be positive.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.size
			break
		}
	}
	if t == "" {
		return 0, fmt.Errorf("size %q: no number", s)
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("size %q: must be positive", s)
		}
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q: too large", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit (5GB, 512MiB)", s)
	}
	v := f * float64(mult)
	if v < 1 {
		return 0, fmt.Errorf("size %q: must be at least one byte", s)
	}
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return int64(v), nil
}

// sizeFlag is a flag.Value holding a byte count written for parseSize.
type sizeFlag struct {
	n   int64
	set bool
}

func (f *sizeFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatInt(f.n, 10)
}

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "size "))
	}
	f.n, f.set = n, true
	return nil
}

// countFlag is a flag.Value holding a positive count; 0 means "not set,
// use the default".
type countFlag int

func (f *countFlag) String() string {
	if f == nil {
		return "0"
	}
	return strconv.Itoa(int(*f))
}

func (f *countFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("%q: want a positive integer", s)
	}
	*f = countFlag(n)
	return nil
}

// durText formats a duration for people with three significant digits or
// so: "850 µs", "12.3 ms", "4.56 s".
func durText(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return clock(d)
}

// rateText formats GB/s with precision that suits its size.
func rateText(gbps float64) string {
	switch {
	case gbps <= 0:
		return "-"
	case gbps < 0.1:
		return fmt.Sprintf("%.3f", gbps)
	case gbps < 10:
		return fmt.Sprintf("%.2f", gbps)
	}
	return fmt.Sprintf("%.1f", gbps)
}

// decimalText formats a byte count in decimal units, as rates in GB/s
// are: "512 B", "213.6 kB", "2.19 GB".
func decimalText(n int64) string {
	unit, div := decimalUnit(n)
	switch {
	case div == 1:
		return fmt.Sprintf("%d B", n)
	case float64(n)/div < 10:
		return fmt.Sprintf("%.2f %s", float64(n)/div, unit)
	}
	return fmt.Sprintf("%.1f %s", float64(n)/div, unit)
}
