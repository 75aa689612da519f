package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stload/stload/bench"
)

// sizeFlag is a flag.Value holding a positive byte count written as
// bench.ParseSize reads it (5GB, 512MiB, 4096): one parser for the sizes
// of stload and of its benchmark.
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
	n, err := bench.ParseSize(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "size "))
	}
	if n == 0 {
		return fmt.Errorf("%q: must be positive", s)
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
