package node

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	netv1beta1 "cella.dev/cella/internal/apis/networking/v1beta1"
)

// networkCIDR is the pod network of namespace ns, for a runtime that
// isolates pods: the spec.cidr of the namespace's CCI Network
// (networking.cci.io/v1beta1), the first by name that has one, or "" for
// the runtime's default when the namespace has none (or the profile
// serves no Networks).
//
// This is the agent's side of per-namespace pod networks (issue 8); the
// runtime refuses a network that overlaps the host's routes.
func (a *Agent) networkCIDR(ctx context.Context, ns string) (string, error) {
	raw, err := a.client.CoreV1().RESTClient().Get().
		AbsPath("/apis", netv1beta1.GroupName, netv1beta1.SchemeGroupVersion.Version, "namespaces", ns, "networks").
		DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the Networks of namespace %s: %w", ns, err)
	}
	var list netv1beta1.NetworkList
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("reading the Networks of namespace %s: %w", ns, err)
	}
	slices.SortFunc(list.Items, func(x, y netv1beta1.Network) int { return strings.Compare(x.Name, y.Name) })
	for _, n := range list.Items {
		if n.Spec.CIDR != "" {
			return n.Spec.CIDR, nil
		}
	}
	return "", nil
}
