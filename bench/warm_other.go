//go:build !linux

package bench

// residency is unknown off Linux.
func residency(string) float64 { return -1 }

// fsType is unknown off Linux.
func fsType(string) string { return "unknown" }

// syncAll does nothing off Linux.
func syncAll() {}
