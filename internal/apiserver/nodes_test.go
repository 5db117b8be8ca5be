package apiserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// readyNode is a Node as the node agent registers it.
func readyNode(name string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker", "kubernetes.io/hostname": name,
		}},
		Spec: corev1.NodeSpec{PodCIDR: "10.88.0.0/24"},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.5"}, {Type: corev1.NodeHostName, Address: name}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2-cella", OSImage: "Debian GNU/Linux 12 (bookworm)",
				KernelVersion: "6.1.0", ContainerRuntimeVersion: "cella-process://0.1", OperatingSystem: "linux", Architecture: "amd64"},
		},
	}
}

// TestNodeLifecycle: Nodes are cluster-scoped, keep the status they are
// registered with, and change status only through /status.
func TestNodeLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		nodes := srv.Clientset().CoreV1().Nodes()
		created, err := nodes.Create(ctx, readyNode("n1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if created.Status.NodeInfo.KubeletVersion != "v1.37.2-cella" || len(created.Status.Conditions) != 1 {
			t.Fatalf("create dropped the registered status: %+v", created.Status)
		}
		if strings.Join(created.Spec.PodCIDRs, ",") != "10.88.0.0/24" {
			t.Fatalf("spec.podCIDRs = %v, want podCIDR copied into it", created.Spec.PodCIDRs)
		}

		// An update of the node keeps the status; /status keeps the spec.
		created.Spec.Unschedulable = true
		created.Status.Conditions[0].Status = corev1.ConditionFalse
		upd, err := nodes.Update(ctx, created, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if !upd.Spec.Unschedulable || upd.Status.Conditions[0].Status != corev1.ConditionTrue {
			t.Fatalf("update: unschedulable %v, Ready %s; want true and the status untouched", upd.Spec.Unschedulable, upd.Status.Conditions[0].Status)
		}
		upd.Spec.Unschedulable = false
		upd.Status.Conditions[0].Status = corev1.ConditionFalse
		st, err := nodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update status: %v", err)
		}
		if !st.Spec.Unschedulable || st.Status.Conditions[0].Status != corev1.ConditionFalse {
			t.Fatalf("update status: unschedulable %v, Ready %s; want the spec untouched and NotReady", st.Spec.Unschedulable, st.Status.Conditions[0].Status)
		}

		list, err := nodes.List(ctx, metav1.ListOptions{FieldSelector: "spec.unschedulable=true"})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("list by spec.unschedulable: %v, %d items", err, len(list.Items))
		}
		if _, err := srv.Clientset().CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("get of a missing node: want NotFound, got %v", err)
		}

		st.Spec.PodCIDRs, st.Spec.PodCIDR = []string{"10.99.0.0/24"}, ""
		if _, err := nodes.Update(ctx, st, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("changing podCIDRs: want 422, got %v", err)
		}
		if err := nodes.Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})
}

// TestNodeValidation: names, taints and pod CIDRs as Kubernetes checks
// them.
func TestNodeValidation(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	nodes := srv.Clientset().CoreV1().Nodes()
	for _, tc := range []struct {
		name   string
		change func(*corev1.Node)
		field  string
	}{
		{"name", func(n *corev1.Node) { n.Name = "Bad_Node" }, "metadata.name"},
		{"taint effect", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: "Sometimes"}}
		}, "metadata.taints[0].effect"},
		{"taint without effect", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k"}}
		}, "metadata.taints[0].effect"},
		{"duplicate taint", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}, {Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}}
		}, "metadata.taints[1]"},
		{"pod CIDR", func(n *corev1.Node) { n.Spec.PodCIDR = "10.88.0.0" }, "spec.podCIDRs[0]"},
		{"two IPv4 pod CIDRs", func(n *corev1.Node) {
			n.Spec.PodCIDRs = []string{"10.88.0.0/24", "10.89.0.0/24"}
		}, "spec.podCIDRs"},
		{"negative capacity", func(n *corev1.Node) {
			n.Status.Capacity[corev1.ResourceCPU] = resource.MustParse("-1")
		}, "status.capacity[cpu]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := readyNode("valid")
			tc.change(n)
			_, err := nodes.Create(ctx, n, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want 422, got %v", err)
			}
			st := err.(apierrors.APIStatus).Status()
			if st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != tc.field {
				t.Fatalf("causes %+v, want the first at %s", st.Details, tc.field)
			}
		})
	}
	// A node with a taint of each effect and a dual-stack CIDR pair is fine.
	n := readyNode("tainted")
	n.Spec.PodCIDR = ""
	n.Spec.PodCIDRs = []string{"10.88.0.0/24", "fd00:10:88::/64"}
	n.Spec.Taints = []corev1.Taint{{Key: "a", Effect: corev1.TaintEffectNoSchedule}, {Key: "a", Effect: corev1.TaintEffectNoExecute},
		{Key: "example.com/b", Value: "x", Effect: corev1.TaintEffectPreferNoSchedule}}
	if _, err := nodes.Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("valid node: %v", err)
	}
}

// tableOf GETs path as a meta.k8s.io/v1 Table.
func tableOf(t *testing.T, srv *servertest.Server, path string) metav1.Table {
	t.Helper()
	req := srv.Request("GET", path, nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as Table: %d", path, resp.StatusCode)
	}
	var tab metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&tab); err != nil {
		t.Fatal(err)
	}
	return tab
}

// columns renders a Table's column names, the -o wide ones marked with *.
func columns(tab metav1.Table) string {
	var names []string
	for _, c := range tab.ColumnDefinitions {
		if c.Priority > 0 {
			names = append(names, c.Name+"*")
		} else {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, " ")
}

// cells renders a row's cells.
func cells(row metav1.TableRow) string {
	var out []string
	for _, c := range row.Cells {
		out = append(out, fmt.Sprint(c))
	}
	return strings.Join(out, " | ")
}

// TestNodeAndLeaseTables: kubectl get nodes (-o wide) and kubectl get
// leases show kubectl's columns.
func TestNodeAndLeaseTables(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cs := srv.Clientset()
	if _, err := cs.CoreV1().Nodes().Create(ctx, readyNode("n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare"}, Spec: corev1.NodeSpec{Unschedulable: true}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, bare, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tab := tableOf(t, srv, "/api/v1/nodes")
	if got, want := columns(tab), "Name Status Roles Age Version Internal-IP* External-IP* OS-Image* Kernel-Version* Container-Runtime*"; got != want {
		t.Fatalf("node columns:\n got %s\nwant %s", got, want)
	}
	if len(tab.Rows) != 2 {
		t.Fatalf("%d node rows, want 2", len(tab.Rows))
	}
	// Rows are in name order; the Age cell varies.
	bareRow, n1Row := tab.Rows[0], tab.Rows[1]
	bareRow.Cells[3], n1Row.Cells[3] = "AGE", "AGE"
	if got, want := cells(bareRow), "bare | Unknown,SchedulingDisabled | <none> | AGE |  | <none> | <none> | <unknown> | <unknown> | <unknown>"; got != want {
		t.Fatalf("bare node row:\n got %s\nwant %s", got, want)
	}
	if got, want := cells(n1Row), "n1 | Ready | control-plane,worker | AGE | v1.37.2-cella | 10.0.0.5 | <none> | Debian GNU/Linux 12 (bookworm) | 6.1.0 | cella-process://0.1"; got != want {
		t.Fatalf("n1 row:\n got %s\nwant %s", got, want)
	}

	holder := "n1"
	dur := int32(40)
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur}}
	if _, err := cs.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tab = tableOf(t, srv, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
	if got := columns(tab); got != "Name Holder Age" {
		t.Fatalf("lease columns: %s, want Name Holder Age", got)
	}
	if len(tab.Rows) != 1 || tab.Rows[0].Cells[0] != "n1" || tab.Rows[0].Cells[1] != "n1" {
		t.Fatalf("lease rows: %+v", tab.Rows)
	}
}

// TestLeaseLifecycle: the node agent's heartbeat, a Lease in
// kube-node-lease renewed by update.
func TestLeaseLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, srv *servertest.Server) {
		ctx := ctxT(t)
		leases := srv.Clientset().CoordinationV1().Leases("kube-node-lease")
		holder := "n1"
		dur := int32(40)
		renew := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
		l, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &renew}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		next := metav1.NewMicroTime(renew.Add(10e9))
		l.Spec.RenewTime = &next
		upd, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("renew: %v", err)
		}
		if !upd.Spec.RenewTime.Equal(&next) || upd.ResourceVersion == l.ResourceVersion {
			t.Fatalf("renew: renewTime %v rv %s", upd.Spec.RenewTime, upd.ResourceVersion)
		}
		zero := int32(0)
		upd.Spec.LeaseDurationSeconds = &zero
		if _, err := leases.Update(ctx, upd, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("leaseDurationSeconds 0: want 422, got %v", err)
		}
		if _, err := srv.Clientset().CoordinationV1().Leases("nowhere").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("lease in a missing namespace: want NotFound, got %v", err)
		}
		if err := leases.Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})
}

// TestFirstStartNamespaces: a fresh server has default, kube-system,
// kube-public and kube-node-lease, each with the flavor the cci profile
// requires.
func TestFirstStartNamespaces(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns, err := srv.Clientset().CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("namespace %s: %v", name, err)
		}
		if ns.Annotations["namespace.kubernetes.io/flavor"] == "" || ns.Status.Phase != corev1.NamespaceActive {
			t.Fatalf("namespace %s: annotations %v phase %s", name, ns.Annotations, ns.Status.Phase)
		}
	}
}

// TestNodeDiscovery: kubectl finds nodes by short name and leases in
// their group; pods/binding is listed as create-only, the legacy bindings
// as a namespaced create-only kind, and logs, streams and proxies with
// their options kinds.
func TestNodeDiscovery(t *testing.T) {
	srv := servertest.Start(t)
	res, err := srv.Clientset().Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]metav1.APIResource{}
	for _, r := range res.APIResources {
		byName[r.Name] = r
	}
	if n := byName["nodes"]; n.Namespaced || strings.Join(n.ShortNames, ",") != "no" || n.Kind != "Node" {
		t.Fatalf("nodes: %+v", n)
	}
	if s := byName["nodes/status"]; strings.Join(s.Verbs, ",") != "get,patch,update" {
		t.Fatalf("nodes/status: %+v", s)
	}
	if b := byName["pods/binding"]; b.Kind != "Binding" || strings.Join(b.Verbs, ",") != "create" || !b.Namespaced {
		t.Fatalf("pods/binding: %+v", b)
	}
	if b := byName["bindings"]; b.Kind != "Binding" || strings.Join(b.Verbs, ",") != "create" || !b.Namespaced {
		t.Fatalf("bindings: %+v", b)
	}
	// The subresources served by handlers of their own are listed as
	// kube-apiserver lists them.
	for name, want := range map[string]string{
		"pods/log": "Pod get", "pods/exec": "PodExecOptions create,get", "pods/attach": "PodAttachOptions create,get",
		"pods/portforward": "PodPortForwardOptions create,get", "pods/proxy": "PodProxyOptions create,delete,get,patch,update",
		"services/proxy": "ServiceProxyOptions create,delete,get,patch,update",
	} {
		r := byName[name]
		if got := r.Kind + " " + strings.Join(r.Verbs, ","); got != want || !r.Namespaced {
			t.Errorf("%s: %q namespaced %v, want %q", name, got, r.Namespaced, want)
		}
	}
	leases, err := srv.Clientset().Discovery().ServerResourcesForGroupVersion("coordination.k8s.io/v1")
	if err != nil || len(leases.APIResources) != 1 || leases.APIResources[0].Name != "leases" || !leases.APIResources[0].Namespaced {
		t.Fatalf("coordination.k8s.io/v1: %v %+v", err, leases)
	}
}
