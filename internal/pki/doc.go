// Package pki keeps the files a Cella server needs to serve TLS and let
// clients in: a certificate authority, a serving certificate it signs, the
// admin token, and a kubeconfig that ties them together.
//
// Every Ensure function is idempotent: it reuses what is on disk when it is
// still right and creates (or re-creates) it otherwise, so the server calls
// them on every start. Files are written atomically (a temporary file
// renamed into place), secrets with mode 0600. The functions are not safe to
// run concurrently on the same files, from one process or several.
package pki
