package app

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/controller/serviceaccount"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/kinds"
)

// Service accounts: the signing key in the data directory, the
// serviceaccounts/token subresource (TokenRequest), the authenticator of
// service account tokens, and the controller that gives every namespace
// its default ServiceAccount and kube-root-ca.crt and fills legacy token
// Secrets.

// newTokenIssuer loads or creates the signing key in cfg's data
// directory.
func newTokenIssuer(cfg *Config) (*auth.TokenIssuer, error) {
	key, err := auth.EnsureServiceAccountKey(filepath.Join(cfg.DataDir, auth.ServiceAccountKeyFile))
	if err != nil {
		return nil, err
	}
	return auth.NewTokenIssuer(key, cfg.ServiceAccountIssuer, nil, nil)
}

// serveTokenRequests adds serviceaccounts/token to the serviceaccounts'
// endpoint: a TokenRequest (authentication.k8s.io/v1) answered by issuer
// from objects read from storage.
func serveTokenRequests(cat *kinds.Catalog, issuer *auth.TokenIssuer) {
	sas := cat.Store("", "serviceaccounts")
	fresh := &objectSource{cat: cat, fresh: true}
	for _, ep := range cat.Endpoints {
		if ep.Store != sas {
			continue
		}
		if ep.Creates == nil {
			ep.Creates = map[string]*registry.SubresourceCreate{}
		}
		ep.Creates["token"] = &registry.SubresourceCreate{
			Kind: "TokenRequest", GroupVersion: &authenticationv1.SchemeGroupVersion,
			New: func() runtime.Object { return &authenticationv1.TokenRequest{} },
			Create: func(ctx context.Context, namespace, name string, obj runtime.Object, o registry.WriteOptions) (runtime.Object, error) {
				return issuer.RequestToken(ctx, fresh, namespace, name, obj.(*authenticationv1.TokenRequest))
			},
		}
	}
}

// objectSource answers auth.ObjectSource from the stores: from storage
// when fresh, else from the watch caches (memory), as the authenticator
// needs on every request. What it decodes is kept by resourceVersion, so
// a token used again costs a cache lookup, not a decode of the pod.
type objectSource struct {
	cat   *kinds.Catalog
	fresh bool

	mu sync.Mutex
	// decoded holds the last ObjectInfo per object, by resourceVersion;
	// guarded by mu, emptied when it reaches maxDecodedObjects.
	decoded map[objectKey]decodedInfo
}

type objectKey struct{ resource, namespace, name string }

type decodedInfo struct {
	rev  int64
	info auth.ObjectInfo
}

// maxDecodedObjects bounds objectSource's memory of decoded objects.
const maxDecodedObjects = 10000

var _ auth.ObjectSource = (*objectSource)(nil)

// objectFields is what ObjectInfo takes from a ServiceAccount, Pod,
// Secret or Node, decoded from the stored JSON without the rest.
type objectFields struct {
	Metadata struct {
		UID               string       `json:"uid"`
		DeletionTimestamp *metav1.Time `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		ServiceAccountName string `json:"serviceAccountName"`
		NodeName           string `json:"nodeName"`
	} `json:"spec"`
	Data struct {
		Token []byte `json:"token"`
	} `json:"data"`
}

func (o *objectSource) Object(ctx context.Context, resource, namespace, name string) (auth.ObjectInfo, bool, error) {
	st := o.cat.Store("", resource)
	if st == nil {
		return auth.ObjectInfo{}, false, fmt.Errorf("no store for %s", resource)
	}
	var raw registry.Raw
	var err error
	if o.fresh {
		raw, err = st.Get(ctx, namespace, name)
	} else {
		raw, _, err = st.GetStale(ctx, namespace, name)
	}
	key := objectKey{resource, namespace, name}
	if apierrors.IsNotFound(err) {
		o.mu.Lock()
		delete(o.decoded, key)
		o.mu.Unlock()
		return auth.ObjectInfo{}, false, nil
	}
	if err != nil {
		return auth.ObjectInfo{}, false, err
	}
	o.mu.Lock()
	d, ok := o.decoded[key]
	o.mu.Unlock()
	if ok && d.rev == raw.ResourceVersion {
		return d.info, true, nil
	}
	var f objectFields
	if err := json.Unmarshal(raw.JSON, &f); err != nil {
		return auth.ObjectInfo{}, false, err
	}
	info := auth.ObjectInfo{
		UID: f.Metadata.UID, ServiceAccountName: f.Spec.ServiceAccountName, NodeName: f.Spec.NodeName, Token: f.Data.Token,
	}
	if dt := f.Metadata.DeletionTimestamp; dt != nil {
		t := dt.Time
		info.Deleting = &t
	}
	o.mu.Lock()
	if o.decoded == nil || len(o.decoded) >= maxDecodedObjects {
		o.decoded = map[objectKey]decodedInfo{}
	}
	o.decoded[key] = decodedInfo{rev: raw.ResourceVersion, info: info}
	o.mu.Unlock()
	return info, true, nil
}

// serviceAccountOptions configures the serviceaccount controller: the CA
// it publishes is the one that signs the serving certificate (none
// without TLS).
func (s *Server) serviceAccountOptions() serviceaccount.Options {
	return serviceaccount.Options{RootCA: s.CAPEM, SignToken: s.issuer.IssueLegacy}
}
