//go:build race

package ratelimit

// raceEnabled skips measurements the race detector distorts (heap sizes) and shortens the longest runs.
const raceEnabled = true
