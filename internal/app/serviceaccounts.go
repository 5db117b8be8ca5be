package app

import (
	"cella.dev/cella/internal/controller/serviceaccount"
)

// Service accounts: the controller that gives every namespace its default
// ServiceAccount and kube-root-ca.crt and fills legacy token Secrets.

// serviceAccountOptions configures the serviceaccount controller: the CA
// it publishes is the one that signs the serving certificate (none
// without TLS).
func (s *Server) serviceAccountOptions() serviceaccount.Options {
	return serviceaccount.Options{RootCA: s.CAPEM}
}
