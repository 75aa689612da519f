//go:build !race

package main

// raceEnabled: the race detector changes what allocates.
const raceEnabled = false
