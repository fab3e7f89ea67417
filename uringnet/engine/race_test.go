//go:build race

package engine

// raceEnabled says the race detector, which allocates, is on.
const raceEnabled = true
