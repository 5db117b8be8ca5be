package apiserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// idleReader reads a request body with a read deadline of idle on each
// Read, so a client that stalls while sending its body is noticed, and
// clears the deadline after a Read that returns in time.
//
// After a Read that hit the deadline the expired deadline is kept on
// purpose: net/http, once the handler returns, tries to drain what remains
// of a small unread body (body.Close in net/http/transfer.go), and the
// expired deadline makes that fail at once instead of waiting on the
// stalled client. The connection is closed either way: the 408 carries
// Connection: close.
type idleReader struct {
	body io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	if err := r.rc.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
		// Not a net/http server connection (a test recorder): no deadline.
		return r.body.Read(p)
	}
	n, err := r.body.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, err
	}
	_ = r.rc.SetReadDeadline(time.Time{})
	return n, err
}

// bodyStalled is the 408 for a body that stopped arriving.
func bodyStalled(idle time.Duration) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusRequestTimeout, Reason: metav1.StatusReasonTimeout,
		Message: fmt.Sprintf("the request body stalled: no bytes arrived for %s", idle),
	}}
}
