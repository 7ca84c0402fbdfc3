//go:build race

package zframe

// The race detector makes sync.Pool drop items, so klauspost allocates.
const raceEnabled = true
