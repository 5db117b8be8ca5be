package apiserver_test

import (
	"strings"
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestFlowControl: a fresh server has kube-apiserver's flow schemas and
// priority levels, the mandatory ones with their exact specs; new ones
// get flowcontrol/v1's defaults and its validation; kubectl's columns.
func TestFlowControl(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	ctx := t.Context()
	fc := srv.Clientset().FlowcontrolV1()

	for _, want := range bootstrap.MandatoryPriorityLevelConfigurations {
		got, err := fc.PriorityLevelConfigurations().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("priority level %s: %v", want.Name, err)
		}
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) || got.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("priority level %s: %+v, want %+v", want.Name, got.Spec, want.Spec)
		}
	}
	for _, want := range bootstrap.MandatoryFlowSchemas {
		got, err := fc.FlowSchemas().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("flow schema %s: %v", want.Name, err)
		}
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("flow schema %s: %+v, want %+v", want.Name, got.Spec, want.Spec)
		}
	}
	schemas, err := fc.FlowSchemas().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(bootstrap.MandatoryFlowSchemas) + len(bootstrap.SuggestedFlowSchemas); len(schemas.Items) != n {
		t.Errorf("%d flow schemas, want the %d kube-apiserver creates", len(schemas.Items), n)
	}

	pl, err := fc.PriorityLevelConfigurations().Create(ctx, &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "queued"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited, Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
			LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue, Queuing: &flowcontrolv1.QueuingConfiguration{}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := pl.Spec.Limited
	if q := l.LimitResponse.Queuing; *l.NominalConcurrencyShares != 30 || *l.LendablePercent != 0 || q.Queues != 64 || q.HandSize != 8 || q.QueueLengthLimit != 50 {
		t.Errorf("defaults: shares %v lendable %v queuing %+v", *l.NominalConcurrencyShares, *l.LendablePercent, q)
	}

	_, err = fc.PriorityLevelConfigurations().Create(ctx, &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "not-exempt"},
		Spec:       flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementExempt},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "type must be 'Exempt' if and only if name is 'exempt'") {
		t.Errorf("an exempt level not named exempt: %v, want 422", err)
	}
	_, err = fc.FlowSchemas().Create(ctx, &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "first"},
		Spec: flowcontrolv1.FlowSchemaSpec{
			MatchingPrecedence: 1,
			Rules:              []flowcontrolv1.PolicyRulesWithSubjects{{Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser}}}},
		},
	}, metav1.CreateOptions{})
	for _, msg := range []string{"only the schema named 'exempt' may have matchingPrecedence 1", "must reference a priority level",
		"user is required when subject kind is 'User'", "at least one of resourceRules and nonResourceRules has to be non-empty"} {
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), msg) {
			t.Errorf("a bad flow schema: %v, want 422 saying %q", err, msg)
		}
	}
	fs, err := fc.FlowSchemas().Create(ctx, &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "mine"},
		Spec:       flowcontrolv1.FlowSchemaSpec{PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "queued"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Spec.MatchingPrecedence != 1000 {
		t.Errorf("matchingPrecedence defaults to %d, want 1000", fs.Spec.MatchingPrecedence)
	}
	fs.Status.Conditions = []flowcontrolv1.FlowSchemaCondition{{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse}}
	if _, err := fc.FlowSchemas().UpdateStatus(ctx, fs, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("flowschemas/status: %v", err)
	}

	tab := tableOf(t, srv, "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/mine")
	if got := columns(tab); got != "Name PriorityLevel MatchingPrecedence DistinguisherMethod Age MissingPL" {
		t.Errorf("flow schema columns: %s", got)
	}
	if len(tab.Rows) != 1 || !strings.HasPrefix(cells(tab.Rows[0]), "mine | queued | 1000 | <none> | ") || !strings.HasSuffix(cells(tab.Rows[0]), " | False") {
		t.Errorf("flow schema row: %+v", tab.Rows)
	}
	tab = tableOf(t, srv, "/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/queued")
	if got := columns(tab); got != "Name Type NominalConcurrencyShares Queues HandSize QueueLengthLimit Age" {
		t.Errorf("priority level columns: %s", got)
	}
	if len(tab.Rows) != 1 || !strings.HasPrefix(cells(tab.Rows[0]), "queued | Limited | 30 | 64 | 8 | 50 | ") {
		t.Errorf("priority level row: %+v", tab.Rows)
	}
}
