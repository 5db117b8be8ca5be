package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/storage"
)

// Damaged objects.
//
// Storage hands back whatever bytes a key holds. When those bytes are not
// an object of the kind (a damaged disk, a store edited by hand), reads must
// not pass them on as a success: every read path checks what it serves
// (checkStored for the bytes served as they are, decodeKV for decoded
// objects) and answers a 500 with reason StorageReadError whose message
// names the key, as kube-apiserver does for a corrupt object in etcd. The
// damage is logged once per key and revision, not once per request.
//
// A damaged object can still be deleted, alone or by deletecollection
// without selectors, so that an operator (or the namespace controller) can
// remove it: nothing in it can be read, so only a resourceVersion
// precondition is checked and no finalizer can hold it.

// errDamaged is the error of every read of a damaged object.
type errDamaged struct {
	key   string
	cause error
}

func (e *errDamaged) Error() string {
	return fmt.Sprintf("the object stored at key %q is damaged and cannot be read (%v); it can only be deleted", e.key, e.cause)
}

// Status makes the error a Kubernetes Status for the HTTP layer.
func (e *errDamaged) Status() metav1.Status {
	return metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
		Reason: metav1.StatusReasonStoreReadError, Message: e.Error(),
	}
}

var _ apierrors.APIStatus = (*errDamaged)(nil)

// isDamaged reports whether err is the read error of a damaged object.
func isDamaged(err error) bool {
	_, ok := err.(*errDamaged)
	return ok
}

// damaged returns the error for the value of kv and logs it the first time
// this key is seen damaged at this revision.
func (s *Store) damaged(kv storage.KeyValue, cause error) error {
	id := kv.Key + "@" + strconv.FormatInt(kv.ModRevision, 10)
	if _, seen := s.reported.LoadOrStore(id, struct{}{}); !seen {
		log := s.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		log.Error("damaged object in storage: reads of it answer 500 until it is deleted or rewritten",
			"key", kv.Key, "resourceVersion", kv.ModRevision, "err", cause)
	}
	return &errDamaged{key: kv.Key, cause: cause}
}

// checkStored returns the damaged-object error when the stored value of kv
// is not a JSON object; reads that serve stored bytes without decoding
// them check them with it first.
func (s *Store) checkStored(kv storage.KeyValue) error {
	v := bytes.TrimLeft(kv.Value, " \t\r\n")
	if len(v) == 0 || v[0] != '{' || !json.Valid(v) {
		return s.damaged(kv, fmt.Errorf("its %d bytes are not a JSON object", len(kv.Value)))
	}
	return nil
}

// placeholder is what a delete of a damaged object answers: an object of
// the kind that carries only the name, namespace and the revision of the
// delete.
func (s *Store) placeholder(namespace, name string, rev int64) runtime.Object {
	obj := s.Resource.New()
	obj.GetObjectKind().SetGroupVersionKind(s.Resource.GroupVersionKind())
	if m, err := meta.Accessor(obj); err == nil {
		m.SetName(name)
		m.SetNamespace(namespace)
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
	return obj
}
