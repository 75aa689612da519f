package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Sizes. stload prints byte sizes in decimal units with one decimal
// (sizeText: "512 B", "213.6 kB", "3.2 GB"), as it prints rates in GB/s,
// and exact byte and parameter counts with thousands separators
// (groupDigits: "213,632"). It reads sizes on the command line in either
// decimal or binary units (parseSize).

// sizeFlag is a flag.Value holding a positive byte count written as
// parseSize reads it.
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
		return err
	}
	if n == 0 {
		return fmt.Errorf("%q: must be positive", s)
	}
	f.n, f.set = n, true
	return nil
}

// sizeHelp documents parseSize for the commands' help.
const sizeHelp = `decimal units as transformers reads them (5GB = 5,000,000,000 bytes,
500MB, 100kB, 4k), binary ones (4GiB, 512MiB, 64KiB), or a plain
number of bytes`

// parseSize parses a byte count as people write it: a number, possibly
// with a fraction, and an optional unit, case-insensitive and possibly
// after a space: B; k, kB, M, MB, G, GB, T, TB (powers of 1000, as
// transformers' max_shard_size "5GB" reads); KiB, MiB, GiB, TiB (powers
// of 1024).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	split := strings.LastIndexFunc(t, func(r rune) bool { return r >= '0' && r <= '9' || r == '.' }) + 1
	num, unit := t[:split], strings.TrimSpace(t[split:])
	mult, ok := unitSize(strings.ToLower(unit))
	if !ok || num == "" {
		return 0, fmt.Errorf("%q: want a number of bytes with an optional unit (5GB, 512MiB, 4096)", s)
	}
	if strings.HasPrefix(num, "-") {
		return 0, fmt.Errorf("%q: negative", s)
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("%q: too large", s)
		}
		return n * mult, nil
	}
	// A fraction ("1.5GB"): exact enough in float64 below 2^53 bytes.
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: not a number", s)
	}
	if v *= float64(mult); v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	if n := int64(v); n > 0 || v == 0 {
		return n, nil
	}
	return 0, fmt.Errorf("%q: less than one byte", s)
}

// unitSize returns the bytes of a lower-case size unit.
func unitSize(unit string) (int64, bool) {
	if unit == "" || unit == "b" {
		return 1, true
	}
	base, rest := int64(1000), strings.TrimSuffix(unit, "b")
	if r, ok := strings.CutSuffix(rest, "i"); ok && r != "" && rest != unit {
		base, rest = 1024, r // KiB, not Ki
	}
	p := strings.Index("kmgt", rest)
	if len(rest) != 1 || p < 0 {
		return 0, false
	}
	n := base
	for range p {
		n *= base
	}
	return n, true
}

// sizeText formats a byte count for people in decimal units with one
// decimal: "512 B", "213.6 kB", "3.2 GB".
func sizeText(n int64) string { return string(appendSizeText(nil, n)) }

// appendSizeText appends sizeText(n) to b.
func appendSizeText(b []byte, n int64) []byte {
	if n < 1000 {
		return append(strconv.AppendInt(b, n, 10), " B"...)
	}
	units := [...]string{"kB", "MB", "GB", "TB", "PB", "EB"}
	v, u := float64(n)/1000, 0
	for v >= 999.95 && u < len(units)-1 {
		v, u = v/1000, u+1
	}
	return append(append(strconv.AppendFloat(b, v, 'f', 1, 64), ' '), units[u]...)
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

// rateText formats a rate in GB/s, the unit of every rate stload
// prints (the report, the progress bars), with two or three significant
// digits: "31.2", "5.61", "0.52", "0.052", "0.0052" (a slow download
// still reads as more than zero).
func rateText(gbps float64) string {
	switch {
	case gbps <= 0 || math.IsNaN(gbps):
		return "-"
	case gbps >= 100:
		return strconv.FormatFloat(gbps, 'f', 0, 64)
	case gbps >= 10:
		return strconv.FormatFloat(gbps, 'f', 1, 64)
	case gbps >= 1:
		return strconv.FormatFloat(gbps, 'f', 2, 64)
	}
	return strconv.FormatFloat(gbps, 'f', 1-int(math.Floor(math.Log10(gbps))), 64)
}
