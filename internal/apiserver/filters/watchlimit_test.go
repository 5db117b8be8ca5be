package filters_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/apiserver/filters"
	"cella.dev/cella/internal/auth"
)

// writeStatus writes a Status error as the apiserver's ErrorWriter does,
// enough for the filter's tests.
func writeStatus(w http.ResponseWriter, _ *http.Request, err error) {
	st := err.(apierrors.APIStatus).Status()
	if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}

// TestWatchLimit: each user may hold max watches at once; one more is 429
// with Retry-After before the handler runs, a watch that ends frees its
// slot, other requests pass, and system:masters is not counted.
func TestWatchLimit(t *testing.T) {
	l := filters.NewWatchLimiter(2)
	entered := make(chan struct{})
	// A watch runs until the channel its request carries is closed.
	type endKey struct{}
	h := filters.WithWatchLimit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if end, ok := r.Context().Value(endKey{}).(chan struct{}); ok {
			entered <- struct{}{}
			<-end
		}
	}), l, func(r *http.Request) bool { return r.URL.Query().Get("watch") == "true" }, writeStatus)

	serve := func(u auth.User, end chan struct{}) *httptest.ResponseRecorder {
		target := "/api/v1/configmaps"
		r := httptest.NewRequest("GET", target, nil)
		ctx := auth.WithUser(r.Context(), u)
		if end != nil {
			r = httptest.NewRequest("GET", target+"?watch=true", nil)
			ctx = context.WithValue(auth.WithUser(r.Context(), u), endKey{}, end)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r.WithContext(ctx))
		return rec
	}
	alice := auth.User{Name: "alice", Groups: []string{auth.GroupAuthenticated}}
	admin := auth.User{Name: auth.AdminUser, Groups: []string{auth.GroupMasters, auth.GroupAuthenticated}}

	done := make(chan int, 8)
	var ends []chan struct{}
	start := func(u auth.User) chan struct{} {
		end := make(chan struct{})
		ends = append(ends, end)
		go func() { done <- serve(u, end).Code }()
		<-entered
		return end
	}
	first := start(alice)
	start(alice)
	if n := l.Open("alice"); n != 2 {
		t.Fatalf("alice has %d watches counted, want 2", n)
	}

	rec := serve(alice, make(chan struct{}))
	var st metav1.Status
	_ = json.Unmarshal(rec.Body.Bytes(), &st)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" ||
		st.Reason != metav1.StatusReasonTooManyRequests || st.Details == nil || st.Details.RetryAfterSeconds != 1 {
		t.Fatalf("third watch: %d %q %+v, want 429 TooManyRequests with Retry-After 1", rec.Code, rec.Header().Get("Retry-After"), st)
	}
	if rec := serve(alice, nil); rec.Code != http.StatusOK {
		t.Fatalf("a list at the cap: %d, want 200", rec.Code)
	}
	// system:masters is not counted: three more watches start.
	for range 3 {
		start(admin)
	}
	if n := l.Open(auth.AdminUser); n != 0 {
		t.Fatalf("the admin has %d watches counted, want 0", n)
	}

	close(first) // one of alice's watches ends
	if code := <-done; code != http.StatusOK {
		t.Fatalf("ended watch: %d", code)
	}
	start(alice) // its slot is free again
	if rec := serve(alice, make(chan struct{})); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("watch over the cap again: %d, want 429", rec.Code)
	}
	for _, end := range ends[1:] {
		close(end)
	}
	for range len(ends) - 1 {
		<-done
	}
	if n := l.Open("alice"); n != 0 {
		t.Fatalf("alice has %d watches counted after all ended, want 0", n)
	}
}
