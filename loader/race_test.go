//go:build race

package loader

// raceEnabled is true when the race detector is on: tests that only
// count allocations skip themselves, being many times slower under it.
const raceEnabled = true
