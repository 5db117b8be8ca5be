// Package cci holds the validation rules of Cella's cci profile, the rules
// CCI adds to plain Kubernetes (shared/spec/cci-api.md, "CCI rules"): the
// instance sizes a pod may ask for, no node or host access, no NodePort
// Services, namespace flavors, and the shape of CCI's own objects (Network,
// EIPPool, Volcano Job).
//
// Every function is pure. Validators return a field.ErrorList with at most
// one error per field path (the registry turns the list into a 422 with one
// cause each) and never change their argument; Default* functions change
// theirs and run before validation, as a strategy's prepare step does.
//
// Rules that span several fields, such as a pod's total CPU, are reported at
// a path that names the fields with a [*] wildcard, for example
// spec.containers[*].resources.limits[cpu].
package cci
