package openapi

import (
	"context"
	"testing"
)

// BenchmarkNew measures the work done at startup for about what Cella
// serves (41 resources, 16 group-versions).
func BenchmarkNew(b *testing.B) {
	rs := testResources()
	for b.Loop() {
		if _, err := New(rs, testInfo); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarm measures the deferred work: every encoding of every
// document, as the first requests for each would do it.
func BenchmarkWarm(b *testing.B) {
	rs := testResources()
	for b.Loop() {
		d, err := New(rs, testInfo)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Warm(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
