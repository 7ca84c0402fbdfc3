//go:build !race

package zframe

const raceEnabled = false
