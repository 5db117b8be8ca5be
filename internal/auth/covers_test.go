package auth

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestCovers(t *testing.T) {
	urls := func(verbs []string, u ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: u}
	}
	rules := func(r ...rbacv1.PolicyRule) []rbacv1.PolicyRule { return r }
	var (
		get     = list("get")
		getList = list("get", "list")
		all     = list("*")
		core    = list("")
		apps    = list("apps")
	)

	tests := []struct {
		name           string
		owner, servant []rbacv1.PolicyRule
		missing        []rbacv1.PolicyRule // nil: covered
	}{
		{"nothing asked", nil, nil, nil},
		{"same rule", rules(resourceRule(getList, core, list("pods"))), rules(resourceRule(getList, core, list("pods"))), nil},
		{"verb * covers any verb", rules(resourceRule(all, core, list("pods"))), rules(resourceRule(list("escalate", "bind"), core, list("pods"))), nil},
		{"one verb missing", rules(resourceRule(get, core, list("pods"))), rules(resourceRule(getList, core, list("pods"))),
			rules(resourceRule(list("list"), core, list("pods")))},
		{"verb * is only covered by *", rules(resourceRule(list("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"), core, list("pods"))),
			rules(resourceRule(all, core, list("pods"))), rules(resourceRule(all, core, list("pods")))},
		{"split across owner rules", rules(resourceRule(get, core, list("pods")), resourceRule(list("list"), core, list("pods"))),
			rules(resourceRule(getList, core, list("pods"))), nil},
		{"group * covers any group", rules(resourceRule(get, all, list("deployments"))), rules(resourceRule(get, list("apps", "extensions"), list("deployments"))), nil},
		{"other group", rules(resourceRule(get, core, list("deployments"))), rules(resourceRule(get, apps, list("deployments"))),
			rules(resourceRule(get, apps, list("deployments")))},
		{"group * is only covered by *", rules(resourceRule(get, list("", "apps"), list("pods"))), rules(resourceRule(get, all, list("pods"))),
			rules(resourceRule(get, all, list("pods")))},
		{"resource * covers resources and subresources", rules(resourceRule(get, core, all)), rules(resourceRule(get, core, list("pods", "pods/log"))), nil},
		{"resource does not cover its subresource", rules(resourceRule(get, core, list("pods"))), rules(resourceRule(get, core, list("pods/log"))),
			rules(resourceRule(get, core, list("pods/log")))},
		{"*/sub covers that subresource of anything", rules(resourceRule(list("update"), apps, list("*/scale"))),
			rules(resourceRule(list("update"), apps, list("deployments/scale", "statefulsets/scale"))), nil},
		{"*/sub covers itself", rules(resourceRule(get, apps, list("*/scale"))), rules(resourceRule(get, apps, list("*/scale"))), nil},
		{"*/sub does not cover another subresource", rules(resourceRule(get, core, list("*/log"))), rules(resourceRule(get, core, list("pods/exec"))),
			rules(resourceRule(get, core, list("pods/exec")))},
		{"*/sub does not cover the resource", rules(resourceRule(get, apps, list("*/scale"))), rules(resourceRule(get, apps, list("deployments"))),
			rules(resourceRule(get, apps, list("deployments")))},
		{"res/sub does not cover */sub", rules(resourceRule(get, apps, list("deployments/scale"))), rules(resourceRule(get, apps, list("*/scale"))),
			rules(resourceRule(get, apps, list("*/scale")))},
		{"resource * is only covered by *", rules(resourceRule(get, core, list("pods", "*/status"))), rules(resourceRule(get, core, all)),
			rules(resourceRule(get, core, all))},
		{"no names covers any name", rules(resourceRule(get, core, list("configmaps"))), rules(resourceRule(get, core, list("configmaps"), "a", "b")), nil},
		{"names cover the same names", rules(resourceRule(get, core, list("configmaps"), "a", "b")), rules(resourceRule(get, core, list("configmaps"), "b")), nil},
		{"names do not cover another name", rules(resourceRule(get, core, list("configmaps"), "a")), rules(resourceRule(get, core, list("configmaps"), "a", "b")),
			rules(resourceRule(get, core, list("configmaps"), "b"))},
		{"names do not cover the collection", rules(resourceRule(get, core, list("configmaps"), "a")), rules(resourceRule(get, core, list("configmaps"))),
			rules(resourceRule(get, core, list("configmaps")))},
		{"url exact", rules(urls(get, "/healthz")), rules(urls(get, "/healthz")), nil},
		{"url * covers every url", rules(urls(all, "*")), rules(urls(list("get", "post"), "/healthz", "/apis/apps")), nil},
		{"url prefix*", rules(urls(get, "/apis/*")), rules(urls(get, "/apis/", "/apis/apps/v1", "/apis/*")), nil},
		{"url prefix* does not cover the bare prefix", rules(urls(get, "/apis/*")), rules(urls(get, "/apis")), rules(urls(get, "/apis"))},
		{"url exact does not cover below it", rules(urls(get, "/healthz")), rules(urls(get, "/healthz/etcd")), rules(urls(get, "/healthz/etcd"))},
		{"url verb missing", rules(urls(get, "*")), rules(urls(list("post"), "/x")), rules(urls(list("post"), "/x"))},
		{"resource rule does not cover a url", rules(resourceRule(all, all, all)), rules(urls(get, "/healthz")), rules(urls(get, "/healthz"))},
		{"url rule does not cover a resource", rules(urls(all, "*")), rules(resourceRule(get, core, list("pods"))), rules(resourceRule(get, core, list("pods")))},
		{"cluster-admin covers everything", BootstrapClusterRoles()[0].Rules,
			rules(resourceRule(all, all, all), urls(all, "*"), resourceRule(get, core, list("pods/log"), "p")), nil},
		{"missing atoms in servant order", rules(resourceRule(get, core, list("pods"))),
			rules(resourceRule(getList, list("", "apps"), list("pods", "deployments"))),
			rules(
				resourceRule(list("list"), core, list("pods")),
				resourceRule(get, core, list("deployments")),
				resourceRule(list("list"), core, list("deployments")),
				resourceRule(get, apps, list("pods")),
				resourceRule(list("list"), apps, list("pods")),
				resourceRule(get, apps, list("deployments")),
				resourceRule(list("list"), apps, list("deployments")),
			)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			covered, missing := Covers(tc.owner, tc.servant)
			if covered != (tc.missing == nil) || !reflect.DeepEqual(missing, tc.missing) {
				t.Errorf("Covers = %v, missing %+v; want missing %+v", covered, missing, tc.missing)
			}
		})
	}
}

func TestDescribeRules(t *testing.T) {
	tests := []struct {
		name  string
		rules []rbacv1.PolicyRule
		want  string
	}{
		{"cluster-admin", BootstrapClusterRoles()[0].Rules,
			`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}` + "\n" + `{NonResourceURLs:["*"], Verbs:["*"]}`},
		{"verbs of one resource merge, lines sort", []rbacv1.PolicyRule{
			resourceRule(list("list"), list("apps"), list("deployments")),
			resourceRule(list("get"), list(""), list("pods")),
			resourceRule(list("create"), list("apps"), list("deployments")),
		}, `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}` + "\n" + `{APIGroups:["apps"], Resources:["deployments"], Verbs:["list" "create"]}`},
		{"a name keeps its own line", []rbacv1.PolicyRule{
			resourceRule(list("get"), list(""), list("configmaps"), "a"),
			resourceRule(list("update"), list(""), list("configmaps"), "a"),
			resourceRule(list("get"), list(""), list("configmaps")),
		}, `{APIGroups:[""], Resources:["configmaps"], ResourceNames:["a"], Verbs:["get" "update"]}` + "\n" + `{APIGroups:[""], Resources:["configmaps"], Verbs:["get"]}`},
		{"duplicates go", []rbacv1.PolicyRule{
			{Verbs: list("get"), NonResourceURLs: list("/x")},
			{Verbs: list("get"), NonResourceURLs: list("/x")},
		}, `{NonResourceURLs:["/x"], Verbs:["get"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeRules(tc.rules); got != tc.want {
				t.Errorf("describeRules =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
