package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// healthCheck is one named check of /healthz, /livez or /readyz, as
// kube-apiserver lists them: [+]NAME ok or [-]NAME failed.
type healthCheck struct {
	name string
	// ready marks checks of /readyz only.
	ready bool
	check func(*Server) error
}

// healthChecks are Cella's checks, in the order they are listed. ping
// and log always pass while the process serves; storage is the server's
// readiness (storage open and answering, its disk not full).
var healthChecks = []healthCheck{
	{name: "ping", check: func(*Server) error { return nil }},
	{name: "log", check: func(*Server) error { return nil }},
	{name: "storage", ready: true, check: func(s *Server) error { return s.readiness() }},
}

// healthPath splits /healthz, /livez and /readyz paths into the endpoint
// ("healthz") and the one check named after it ("" for all).
func healthPath(p string) (endpoint, check string, ok bool) {
	for _, e := range []string{"healthz", "livez", "readyz"} {
		if p == "/"+e {
			return e, "", true
		}
		if c, found := strings.CutPrefix(p, "/"+e+"/"); found && c != "" && !strings.Contains(c, "/") {
			return e, c, true
		}
	}
	return "", "", false
}

// serveHealth answers /healthz, /livez and /readyz as kube-apiserver does:
// "ok" when every check passes; with ?verbose a line per check and
// "NAME check passed"; ?exclude=CHECK (repeated) leaves checks out;
// /ENDPOINT/CHECK runs that check alone (404 for an unknown one). A
// failure is 500, except /readyz, which answers 503 (a Status, or the
// list with ?verbose) so that load balancers take the server out.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, endpoint, only string) error {
	q := r.URL.Query()
	_, verbose := q["verbose"]
	excluded := map[string]bool{}
	for _, e := range q["exclude"] {
		excluded[e] = true
	}
	var out strings.Builder
	var failed error
	found := false
	for _, c := range healthChecks {
		if c.ready && endpoint != "readyz" {
			continue
		}
		if only != "" && c.name != only {
			continue
		}
		found = true
		if excluded[c.name] {
			fmt.Fprintf(&out, "[+]%s excluded: ok\n", c.name)
			continue
		}
		if err := c.check(s); err != nil {
			fmt.Fprintf(&out, "[-]%s failed: reason withheld\n", c.name)
			if failed == nil {
				failed = err
			}
			continue
		}
		fmt.Fprintf(&out, "[+]%s ok\n", c.name)
	}
	if !found {
		return errNotFoundPath()
	}
	code := http.StatusInternalServerError
	if endpoint == "readyz" {
		code = http.StatusServiceUnavailable
	}
	switch {
	case failed != nil && !verbose && only == "" && endpoint == "readyz":
		st := apierrors.NewServiceUnavailable(failed.Error()).ErrStatus
		st.Details = &metav1.StatusDetails{RetryAfterSeconds: 1}
		WriteStatus(w, st)
		return nil
	case failed != nil:
		return writePlain(w, code, out.String()+endpoint+" check failed\n")
	case verbose:
		return writePlain(w, http.StatusOK, out.String()+endpoint+" check passed\n")
	}
	return writePlain(w, http.StatusOK, "ok")
}
