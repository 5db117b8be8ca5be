package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	twoHundred := make([]int, 200)
	for i := range twoHundred {
		twoHundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", ms(7), 50, 7 * time.Millisecond},
		{"one sample p99", ms(7), 99, 7 * time.Millisecond},
		{"1..100 p50", ms(hundred...), 50, 50 * time.Millisecond},
		{"1..100 p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"1..100 p100", ms(hundred...), 100, 100 * time.Millisecond},
		{"1..100 p0 is the minimum", ms(hundred...), 0, 1 * time.Millisecond},
		{"over 100 is the maximum", ms(1, 2, 3), 150, 3 * time.Millisecond},
		{"p50 of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of three rounds the rank up", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"p99 of ten is the maximum", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of ten is the ninth", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p99 of 200 is the 198th", ms(twoHundred...), 99, 198 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRecorderSummary(t *testing.T) {
	var a, b Recorder
	// Out of order, split over two recorders as two goroutines would.
	for i := 100; i >= 1; i-- {
		if i%2 == 0 {
			a.Add(time.Duration(i) * time.Microsecond)
		} else {
			b.Add(time.Duration(i) * time.Microsecond)
		}
	}
	a.Merge(&b)
	got := a.Summary()
	want := Summary{Count: 100, P50: 50 * time.Microsecond, P99: 99 * time.Microsecond, Max: 100 * time.Microsecond}
	if got != want {
		t.Errorf("Summary() = %+v, want %+v", got, want)
	}
	if got := new(Recorder).Summary(); got != (Summary{}) {
		t.Errorf("empty Summary() = %+v, want zero", got)
	}
}
