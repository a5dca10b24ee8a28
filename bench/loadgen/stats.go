package main

import (
	"math"
	"slices"
	"time"
)

// dist summarises a set of durations, in milliseconds.
type dist struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order: the smallest value such that at
// least p% of the values are less than or equal to it. It returns 0 for an
// empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps p*n that is a whole number from rounding up.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// summarize sorts ds in place and returns its distribution.
func summarize(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return dist{
		N:    len(ds),
		Mean: ms(sum / time.Duration(len(ds))),
		P50:  ms(percentile(ds, 50)),
		P90:  ms(percentile(ds, 90)),
		P99:  ms(percentile(ds, 99)),
		P999: ms(percentile(ds, 99.9)),
		Max:  ms(ds[len(ds)-1]),
	}
}

func ms(d time.Duration) float64 {
	// Microsecond precision is all a millisecond figure needs.
	return math.Round(float64(d)/1e3) / 1e3
}
