package registry

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"cella.dev/cella/internal/storage"
)

// This file is the one seam between storage sentinels and Kubernetes Status
// errors. Anything it does not recognise passes through unchanged and the
// HTTP layer answers it as an InternalError.

// interpretError converts a storage error for an operation on name.
func interpretError(err error, gr schema.GroupResource, name string) error {
	if err == nil {
		return nil
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(ConflictMessage))
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
	case errors.Is(err, storage.ErrFutureRevision):
		// Kubernetes answers a read ahead of storage with a 504 whose cause
		// tells client-go to retry.
		e := apierrors.NewTimeoutError("Too large resource version", 1)
		e.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
		return e
	case errors.Is(err, storage.ErrInvalidContinue):
		return apierrors.NewBadRequest("invalid continue token: " + err.Error())
	case errors.Is(err, storage.ErrNoSpace):
		// 500, as kube-apiserver answers etcd's "database space exceeded":
		// a 503 with Retry-After would make client-go retry by itself what
		// only an operator can fix.
		return apierrors.NewInternalError(errors.New("the disk that holds the store is full (no space left on device): writes fail until space is freed"))
	case errors.Is(err, storage.ErrUnavailable):
		se := apierrors.NewServiceUnavailable("storage is unavailable; try again later")
		se.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: 1}
		return se
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError(fmt.Sprintf("request did not complete in time (%s %s)", gr, name), 1)
	case errors.Is(err, context.Canceled):
		return err
	}
	return err
}

// ConflictMessage is the message of every 409 Conflict for a stale
// resourceVersion, as Kubernetes words it.
const ConflictMessage = "the object has been modified; please apply your changes to the latest version and try again"

// errExpiredContinue is the 410 for a continue token whose revision was
// compacted. Like Kubernetes it carries a fresh token that restarts the
// list at the current revision after the same key.
func errExpiredContinue(fresh string) error {
	e := apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
	e.ErrStatus.ListMeta.Continue = fresh
	return e
}
