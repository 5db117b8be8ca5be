package apiserver_test

import (
	"strings"
	"testing"

	"cella.dev/cella/internal/servertest"
)

// TestRequestMetricsCountCodes: /metrics counts answered requests by verb,
// resource and code, including answers given by filters (414, 404 from
// routing), and label resources that do not exist alike.
func TestRequestMetricsCountCodes(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.HTTPClient()
	call(t, c, srv.Request("GET", "/api/v1/namespaces/default/configmaps/missing", nil))
	call(t, c, srv.Request("GET", "/api/v1/namespaces/default/configmaps", nil))
	call(t, c, srv.Request("GET", "/api/v1/nothings", nil))
	call(t, c, srv.Request("GET", "/api/v1/namespaces?x="+strings.Repeat("a", 9000), nil))
	m := call(t, c, srv.Request("GET", "/metrics", nil))
	if m.code != 200 {
		t.Fatalf("/metrics: %d", m.code)
	}
	for _, want := range []string{
		`apiserver_request_total{code="404",group="",resource="configmaps",subresource="",verb="get"} 1`,
		`apiserver_request_total{code="200",group="",resource="configmaps",subresource="",verb="list"} 1`,
		`apiserver_request_total{code="404",group="",resource="unknown",subresource="",verb="list"} 1`,
		`apiserver_request_total{code="414",group="",resource="namespaces",subresource="",verb="list"} 1`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
