package apiserver

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"cella.dev/cella/internal/registry"
)

// discovery holds the discovery documents, built once from the endpoints.
type discovery struct {
	versions  []byte            // /api
	groups    []byte            // /apis
	group     map[string][]byte // /apis/{group}
	resources map[string][]byte // /api/v1, /apis/{group}/{version}
}

// preferredVersions names the preferred version of groups served in more
// than one version.
var preferredVersions = map[string]string{"autoscaling": "v2", "batch": "v1"}

func buildDiscovery(eps []*registry.Endpoint) (*discovery, error) {
	d := &discovery{group: map[string][]byte{}, resources: map[string][]byte{}}
	byGV := map[string][]*registry.Endpoint{}
	groupVersions := map[string][]string{}
	var groupOrder []string
	for _, ep := range eps {
		gv := ep.GroupVersion().String()
		if _, ok := byGV[gv]; !ok {
			if ep.Group != "" {
				if _, seen := groupVersions[ep.Group]; !seen {
					groupOrder = append(groupOrder, ep.Group)
				}
				groupVersions[ep.Group] = append(groupVersions[ep.Group], ep.Version)
			}
		}
		byGV[gv] = append(byGV[gv], ep)
	}
	var err error
	d.versions, err = json.Marshal(&metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: ""}},
	})
	if err != nil {
		return nil, err
	}
	list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range groupOrder {
		grp := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g}
		vs := groupVersions[g]
		sort.SliceStable(vs, func(i, j int) bool { return versionLess(vs[j], vs[i]) })
		for _, v := range vs {
			grp.Versions = append(grp.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + v, Version: v})
		}
		pref := vs[0]
		if p, ok := preferredVersions[g]; ok {
			pref = p
		}
		grp.PreferredVersion = metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + pref, Version: pref}
		// Preferred version first, as kube-apiserver lists it.
		sort.SliceStable(grp.Versions, func(i, j int) bool { return grp.Versions[i].Version == pref && grp.Versions[j].Version != pref })
		if d.group[g], err = json.Marshal(grp); err != nil {
			return nil, err
		}
		grp.TypeMeta = metav1.TypeMeta{}
		list.Groups = append(list.Groups, grp)
	}
	if d.groups, err = json.Marshal(list); err != nil {
		return nil, err
	}
	for gv, eps := range byGV {
		rl := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
		for _, ep := range eps {
			r := ep.Resource
			rl.APIResources = append(rl.APIResources, metav1.APIResource{
				Name: r.Plural, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: ep.Kind,
				Verbs: ep.Verbs, ShortNames: r.ShortNames, Categories: r.Categories,
			})
			for _, sub := range ep.Subresources {
				ar := metav1.APIResource{Name: r.Plural + "/" + sub, Namespaced: r.Namespaced, Kind: ep.Kind}
				switch sub {
				case "status", "approval":
					ar.Verbs = []string{"get", "patch", "update"}
				case "scale":
					ar.Group, ar.Version, ar.Kind = "autoscaling", "v1", "Scale"
					ar.Verbs = []string{"get", "patch", "update"}
				case "finalize":
					ar.Verbs = []string{"update"}
				default:
					ar.Verbs = []string{"get"}
				}
				rl.APIResources = append(rl.APIResources, ar)
			}
			if ep.Group == "" {
				for sub, c := range connectSubresources[r.Plural] {
					rl.APIResources = append(rl.APIResources, metav1.APIResource{
						Name: r.Plural + "/" + sub, Namespaced: r.Namespaced, Kind: c.kind, Verbs: c.verbs,
					})
				}
			}
			for sub, sc := range ep.Creates {
				ar := metav1.APIResource{
					Name: r.Plural + "/" + sub, Namespaced: r.Namespaced, Kind: sc.Kind, Verbs: []string{"create"},
				}
				if gv := sc.GroupVersion; gv != nil && *gv != ep.GroupVersion() {
					// pods/eviction takes a policy/v1 Eviction; kubectl
					// drain finds it here.
					ar.Group, ar.Version = gv.Group, gv.Version
				}
				rl.APIResources = append(rl.APIResources, ar)
			}
		}
		sort.Slice(rl.APIResources, func(i, j int) bool { return rl.APIResources[i].Name < rl.APIResources[j].Name })
		if d.resources[gv], err = json.Marshal(rl); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// connectSubresource is a core subresource served by a handler of its
// own rather than the Store (logs, streams, proxies), as discovery lists
// it: the options kind and the verbs of kube-apiserver's connecters.
type connectSubresource struct {
	kind  string
	verbs []string
}

// connectSubresources are those subresources by core resource. They are
// listed whatever the runtime, as in Kubernetes: without one they answer
// 503, saying so.
var connectSubresources = map[string]map[string]connectSubresource{
	"pods": {
		"attach":      {"PodAttachOptions", []string{"create", "get"}},
		"exec":        {"PodExecOptions", []string{"create", "get"}},
		"log":         {"Pod", []string{"get"}},
		"portforward": {"PodPortForwardOptions", []string{"create", "get"}},
		"proxy":       {"PodProxyOptions", []string{"create", "delete", "get", "patch", "update"}},
	},
	"services": {
		"proxy": {"ServiceProxyOptions", []string{"create", "delete", "get", "patch", "update"}},
	},
}

// versionLess orders Kubernetes versions: v1 > v1beta1 > v1alpha1, v2 > v1.
func versionLess(a, b string) bool {
	rank := func(v string) (int, int, int) {
		v = strings.TrimPrefix(v, "v")
		major, rest := 0, ""
		for i, c := range v {
			if c < '0' || c > '9' {
				rest = v[i:]
				break
			}
			major = major*10 + int(c-'0')
		}
		stage, minor := 3, 0
		switch {
		case strings.HasPrefix(rest, "beta"):
			stage, rest = 2, rest[4:]
		case strings.HasPrefix(rest, "alpha"):
			stage, rest = 1, rest[5:]
		}
		for _, c := range rest {
			minor = minor*10 + int(c-'0')
		}
		return stage, major, minor
	}
	as, am, an := rank(a)
	bs, bm, bn := rank(b)
	if as != bs {
		return as < bs
	}
	if am != bm {
		return am < bm
	}
	return an < bn
}

// serveDiscovery answers /api, /apis and group(-version) documents. ok is
// false when the path is not a discovery path.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, info *RequestInfo) (bool, error) {
	doc := s.routes().disc.document(info)
	if doc == nil {
		return false, nil
	}
	if _, err := negotiateOutput(r.Header.Get("Accept"), false); err != nil {
		return true, err
	}
	if done, err := s.conditionalRead(w, r, documentValidators(doc), schema.GroupResource{}, ""); done || err != nil {
		return true, err
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.Header().Set("Cache-Control", "no-cache, private")
	_, _ = w.Write(doc)
	return true, nil
}

// document returns the discovery document a path names, or nil.
func (d *discovery) document(info *RequestInfo) []byte {
	switch {
	case info.APIPrefix == "api" && info.APIVersion == "":
		return d.versions
	case info.APIPrefix == "api":
		return d.resources[info.APIVersion]
	case info.APIGroup == "":
		return d.groups
	case info.APIVersion == "":
		return d.group[info.APIGroup]
	}
	return d.resources[info.APIGroup+"/"+info.APIVersion]
}
