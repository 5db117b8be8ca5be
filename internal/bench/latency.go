package bench

import (
	"math"
	"slices"
	"time"
)

// Recorder collects latency samples. It keeps every sample, so its
// percentiles are exact; at a benchmark's counts (a few hundred thousand
// at most) that costs a few megabytes.
//
// A Recorder is not safe for concurrent use: give each goroutine its own
// and Merge them after the goroutines are done. The zero value is ready.
type Recorder struct {
	samples []time.Duration
}

// Add records one sample.
func (r *Recorder) Add(d time.Duration) { r.samples = append(r.samples, d) }

// Merge adds every sample of o to r. o is unchanged.
func (r *Recorder) Merge(o *Recorder) { r.samples = append(r.samples, o.samples...) }

// Len is the number of samples.
func (r *Recorder) Len() int { return len(r.samples) }

// Summary sorts the samples and summarises them. A Recorder without
// samples gives the zero Summary.
func (r *Recorder) Summary() Summary {
	slices.Sort(r.samples)
	return Summary{
		Count: len(r.samples),
		P50:   Percentile(r.samples, 50),
		P99:   Percentile(r.samples, 99),
		Max:   Percentile(r.samples, 100),
	}
}

// Summary is the shape of a set of latencies.
type Summary struct {
	Count int           `json:"count"`
	P50   time.Duration `json:"p50Ns"`
	P99   time.Duration `json:"p99Ns"`
	Max   time.Duration `json:"maxNs"`
}

// Percentile returns the nearest-rank p-th percentile of sorted, which
// must be in ascending order: the smallest sample that at least p percent
// of the samples are no larger than. p is clamped to (0, 100], so p <= 0
// gives the minimum and 100 the maximum; an empty slice gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// For a whole-number p, p*n is an exact integer in float64 and so is
	// its quotient by 100 whenever that is whole: Ceil never bumps an
	// exact rank to the next one.
	rank := int(math.Ceil(p * float64(n) / 100))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
