// Package filters holds the HTTP middleware of the API server, one concern
// per file. Each filter is a function WithX(next, deps...) http.Handler;
// apiserver.Server.Handler assembles them in the order of the status-code
// contract (framing, authentication, rate limit, routing, authorization, ...).
//
// Filters write their errors through the ErrorFunc they are given, so every
// answer is a Kubernetes Status body written in one place.
package filters

import "net/http"

// ErrorFunc writes err as the response to r.
type ErrorFunc func(w http.ResponseWriter, r *http.Request, err error)
