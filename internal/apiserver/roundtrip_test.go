package apiserver_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// containerYAML is a container the cci profile accepts, indented for a
// pod spec's containers list at the given depth.
func containerYAML(indent int) string {
	p := strings.Repeat(" ", indent)
	return p + "- name: c\n" +
		p + "  image: busybox:1.36\n" +
		p + "  resources:\n" +
		p + "    limits: {cpu: 250m, memory: 1Gi}\n" +
		p + "    requests: {cpu: 250m, memory: 1Gi}\n"
}

// roundTripExamples is a minimal valid object of every kind the catalogue
// stores, by "group/version/resource" as discovery names it. Pods carry a
// nodeSelector no node matches, so that nothing binds them while the test
// works on them. TestRoundTrip fails for a creatable kind missing here.
var roundTripExamples = map[string]string{
	"/v1/configmaps":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rt\ndata:\n  a: \"1\"\n",
	"/v1/endpoints":              "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: rt\nsubsets:\n- addresses:\n  - ip: 10.0.0.1\n  ports:\n  - port: 80\n",
	"/v1/events":                 "apiVersion: v1\nkind: Event\nmetadata:\n  name: rt\ninvolvedObject:\n  kind: ConfigMap\n  name: rt\n  namespace: default\nreason: Tested\nmessage: round trip\ntype: Normal\n",
	"/v1/limitranges":            "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: rt\nspec:\n  limits:\n  - type: Container\n    max: {cpu: \"2\"}\n    default: {cpu: \"2\"}\n    defaultRequest: {cpu: \"2\"}\n",
	"/v1/namespaces":             "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: rt\n  annotations: {namespace.kubernetes.io/flavor: general-computing}\n",
	"/v1/nodes":                  "apiVersion: v1\nkind: Node\nmetadata:\n  name: rt\n",
	"/v1/persistentvolumeclaims": "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: rt\nspec:\n  storageClassName: manual\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n",
	"/v1/pods":                   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: rt\nspec:\n  nodeSelector: {roundtrip: never}\n  containers:\n" + containerYAML(2),
	"/v1/resourcequotas":         "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: rt\nspec:\n  hard: {pods: \"100\"}\n",
	"/v1/secrets":                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: rt\ntype: Opaque\ndata:\n  a: MQ==\n",
	"/v1/serviceaccounts":        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: rt\n",
	"/v1/services":               "apiVersion: v1\nkind: Service\nmetadata:\n  name: rt\nspec:\n  selector: {app: rt}\n  ports:\n  - port: 80\n",
	"apiextensions.k8s.io/v1/customresourcedefinitions": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: rts.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: rts, singular: rt, kind: RT}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
	"/v1/podtemplates":                                            "apiVersion: v1\nkind: PodTemplate\nmetadata:\n  name: rt\ntemplate:\n  metadata:\n    labels: {app: rt}\n  spec:\n    containers:\n" + containerYAML(4),
	"networking.k8s.io/v1/ingressclasses":                         "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: rt\nspec:\n  controller: example.com/ingress\n",
	"node.k8s.io/v1/runtimeclasses":                               "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: rt\nhandler: runc\n",
	"discovery.k8s.io/v1/endpointslices":                          "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: rt\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: true}\nports:\n- name: http\n  port: 80\n  protocol: TCP\n",
	"storage.k8s.io/v1/csidrivers":                                "apiVersion: storage.k8s.io/v1\nkind: CSIDriver\nmetadata:\n  name: rt.example.com\nspec:\n  attachRequired: false\n",
	"storage.k8s.io/v1/csinodes":                                  "apiVersion: storage.k8s.io/v1\nkind: CSINode\nmetadata:\n  name: rt\nspec:\n  drivers:\n  - name: rt.example.com\n    nodeID: node-1\n",
	"storage.k8s.io/v1/volumeattachments":                         "apiVersion: storage.k8s.io/v1\nkind: VolumeAttachment\nmetadata:\n  name: rt\nspec:\n  attacher: rt.example.com\n  nodeName: node-1\n  source:\n    persistentVolumeName: pv-1\n",
	"storage.k8s.io/v1/csistoragecapacities":                      "apiVersion: storage.k8s.io/v1\nkind: CSIStorageCapacity\nmetadata:\n  name: rt\nstorageClassName: standard\ncapacity: 10Gi\n",
	"storage.k8s.io/v1/volumeattributesclasses":                   "apiVersion: storage.k8s.io/v1\nkind: VolumeAttributesClass\nmetadata:\n  name: rt\ndriverName: rt.example.com\nparameters:\n  iops: \"100\"\n",
	"events.k8s.io/v1/events":                                     "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: rt2\neventTime: \"2026-01-01T00:00:00.000000Z\"\nreportingController: cella.dev/test\nreportingInstance: test\naction: Test\nreason: Tested\nregarding:\n  kind: ConfigMap\n  name: rt\n  namespace: default\ntype: Normal\n",
	"apps/v1/deployments":                                         "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: rt\nspec:\n  selector:\n    matchLabels: {app: rt}\n  template:\n    metadata:\n      labels: {app: rt}\n    spec:\n      nodeSelector: {roundtrip: never}\n      containers:\n" + containerYAML(6),
	"apps/v1/replicasets":                                         "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: rt\nspec:\n  selector:\n    matchLabels: {app: rt-rs}\n  template:\n    metadata:\n      labels: {app: rt-rs}\n    spec:\n      nodeSelector: {roundtrip: never}\n      containers:\n" + containerYAML(6),
	"apps/v1/statefulsets":                                        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: rt\nspec:\n  serviceName: rt\n  selector:\n    matchLabels: {app: rt-sts}\n  template:\n    metadata:\n      labels: {app: rt-sts}\n    spec:\n      nodeSelector: {roundtrip: never}\n      containers:\n" + containerYAML(6),
	"batch/v1/jobs":                                               "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: rt\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      nodeSelector: {roundtrip: never}\n      containers:\n" + containerYAML(6),
	"batch/v1/cronjobs":                                           "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: rt\nspec:\n  schedule: \"*/15 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n" + containerYAML(10),
	"batch/v1beta1/cronjobs":                                      "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: rt-beta\nspec:\n  schedule: \"*/15 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n" + containerYAML(10),
	"autoscaling/v2/horizontalpodautoscalers":                     "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: rt\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: rt}\n  minReplicas: 1\n  maxReplicas: 3\n",
	"autoscaling/v1/horizontalpodautoscalers":                     "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: rt-v1\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: rt}\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 80\n",
	"networking.k8s.io/v1/ingresses":                              "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: rt\nspec:\n  rules:\n  - host: rt.example\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service: {name: rt, port: {number: 80}}\n",
	"extensions/v1beta1/ingresses":                                "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: rt-beta\nspec:\n  rules:\n  - host: rt.example\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend: {serviceName: rt, servicePort: 80}\n",
	"coordination.k8s.io/v1/leases":                               "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: rt\nspec:\n  holderIdentity: test\n  leaseDurationSeconds: 15\n",
	"rbac.authorization.k8s.io/v1/clusterroles":                   "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: rt\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n",
	"rbac.authorization.k8s.io/v1/clusterrolebindings":            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: rt\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rt}\nsubjects:\n- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}\n",
	"rbac.authorization.k8s.io/v1/roles":                          "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: rt\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n",
	"rbac.authorization.k8s.io/v1/rolebindings":                   "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rt\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: rt}\nsubjects:\n- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}\n",
	"storage.k8s.io/v1/storageclasses":                            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: rt\nprovisioner: example.com/rt\n",
	"networking.cci.io/v1beta1/networks":                          "apiVersion: networking.cci.io/v1beta1\nkind: Network\nmetadata:\n  name: rt\nspec:\n  attachedVPC: vpc\n  networkID: nid\n  subnetID: sid\n  cidr: 10.90.0.0/24\n",
	"crd.yangtse.cni/v1/eippools":                                 "apiVersion: crd.yangtse.cni/v1\nkind: EIPPool\nmetadata:\n  name: rt\nspec:\n  amount: 2\n",
	"/v1/persistentvolumes":                                       "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: rt\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  storageClassName: manual\n  hostPath: {path: /tmp/rt}\n",
	"/v1/replicationcontrollers":                                  "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: rt\nspec:\n  selector: {app: rt-rc}\n  template:\n    metadata:\n      labels: {app: rt-rc}\n    spec:\n      nodeSelector: {roundtrip: never}\n      containers:\n" + containerYAML(6),
	"apps/v1/controllerrevisions":                                 "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: rt\nrevision: 1\ndata: {a: 1}\n",
	"apps/v1/daemonsets":                                          "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: rt\nspec:\n  selector:\n    matchLabels: {app: rt-ds}\n  template:\n    metadata:\n      labels: {app: rt-ds}\n    spec:\n      nodeSelector: {roundtrip: never}\n      containers:\n" + containerYAML(6),
	"networking.k8s.io/v1/networkpolicies":                        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: rt\nspec:\n  podSelector: {matchLabels: {app: rt}}\n  policyTypes: [Ingress]\n",
	"policy/v1/poddisruptionbudgets":                              "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: rt\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: rt}}\n",
	"scheduling.k8s.io/v1/priorityclasses":                        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: rt\nvalue: 1000\npreemptionPolicy: PreemptLowerPriority\n",
	"batch.volcano.sh/v1alpha1/jobs":                              "apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata:\n  name: rt-volcano\nspec:\n  tasks:\n  - name: work\n    replicas: 1\n    template:\n      spec:\n        restartPolicy: Never\n        containers:\n" + containerYAML(8),
	"certificates.k8s.io/v1/certificatesigningrequests":           "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: rt\nspec:\n  request: " + roundTripCSR + "\n  signerName: example.com/rt\n  usages: [client auth]\n",
	"certificates.k8s.io/v1/clustertrustbundles":                  "apiVersion: certificates.k8s.io/v1\nkind: ClusterTrustBundle\nmetadata:\n  name: example.com:rt:1\nspec:\n  signerName: example.com/rt\n  trustBundle: |\n" + roundTripCA,
	"networking.k8s.io/v1/servicecidrs":                           "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata:\n  name: rt\nspec:\n  cidrs: [10.96.0.0/16]\n",
	"networking.k8s.io/v1/ipaddresses":                            "apiVersion: networking.k8s.io/v1\nkind: IPAddress\nmetadata:\n  name: 10.96.0.10\nspec:\n  parentRef: {group: \"\", resource: services, namespace: default, name: rt}\n",
	"resource.k8s.io/v1/deviceclasses":                            "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata:\n  name: rt\nspec:\n  selectors:\n  - cel: {expression: 'device.driver == \"rt.example.com\"'}\n",
	"resource.k8s.io/v1/resourceclaims":                           "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata:\n  name: rt\nspec:\n  devices:\n    requests:\n    - name: gpu\n      exactly: {deviceClassName: rt, allocationMode: ExactCount, count: 1}\n",
	"resource.k8s.io/v1/resourceclaimtemplates":                   "apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\nmetadata:\n  name: rt\nspec:\n  spec:\n    devices:\n      requests:\n      - name: gpu\n        exactly: {deviceClassName: rt, allocationMode: ExactCount, count: 1}\n",
	"resource.k8s.io/v1/resourceslices":                           "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata:\n  name: rt\nspec:\n  driver: rt.example.com\n  pool: {name: pool, generation: 1, resourceSliceCount: 1}\n  nodeName: node-1\n  devices:\n  - name: dev-0\n",
	"certificates.k8s.io/v1/podcertificaterequests":               "apiVersion: certificates.k8s.io/v1\nkind: PodCertificateRequest\nmetadata:\n  name: rt\nspec:\n  signerName: example.com/rt\n  podName: rt\n  podUID: 8a6d1f3c-0000-4000-8000-000000000001\n  serviceAccountName: default\n  serviceAccountUID: 8a6d1f3c-0000-4000-8000-000000000002\n  nodeName: node-1\n  nodeUID: 8a6d1f3c-0000-4000-8000-000000000003\n  stubPKCS10Request: " + roundTripStubCSR + "\n",
	"resource.k8s.io/v1/devicetaintrules":                         "apiVersion: resource.k8s.io/v1\nkind: DeviceTaintRule\nmetadata:\n  name: rt\nspec:\n  deviceSelector: {driver: rt.example.com, pool: pool}\n  taint: {key: example.com/broken, effect: NoSchedule}\n",
	"storagemigration.k8s.io/v1/storageversionmigrations":         "apiVersion: storagemigration.k8s.io/v1\nkind: StorageVersionMigration\nmetadata:\n  name: rt\nspec:\n  resource: {group: apps, resource: deployments}\n",
	"flowcontrol.apiserver.k8s.io/v1/flowschemas":                 "apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: FlowSchema\nmetadata:\n  name: rt\nspec:\n  priorityLevelConfiguration: {name: rt}\n  matchingPrecedence: 500\n  distinguisherMethod: {type: ByUser}\n  rules:\n  - subjects:\n    - kind: User\n      user: {name: alice}\n    resourceRules:\n    - verbs: [get]\n      apiGroups: [\"\"]\n      resources: [configmaps]\n      namespaces: [\"*\"]\n",
	"flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations": "apiVersion: flowcontrol.apiserver.k8s.io/v1\nkind: PriorityLevelConfiguration\nmetadata:\n  name: rt\nspec:\n  type: Limited\n  limited:\n    nominalConcurrencyShares: 10\n    limitResponse:\n      type: Queue\n      queuing: {queues: 16, handSize: 4, queueLengthLimit: 20}\n",
}

// The resource claims' examples carry their defaults (allocationMode,
// count): their requests are an atomic list, which an apply without them
// would take from the creator, as it would on kube-apiserver.
//
// roundTripCSR is a PKCS#10 request (P-256, CN=rt), base64 as in JSON,
// and roundTripStubCSR the same request in DER;
// roundTripCA is a self-signed CA certificate (CN=rt-ca, valid until
// 2126), indented for a YAML block.
const (
	roundTripStubCSR = "MIHHMG8CAQAwDTELMAkGA1UEAwwCcnQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQAv+p7jUeiXBJZNdJfHSPMLAhx4729JsD6Fta4xR0aYfVdl7Flig4xBbSeu3ClOLYIjeoLOYF8+g1oIMal7u/OoAAwCgYIKoZIzj0EAwIDSAAwRQIgLz48hh6tfikUtX5pyuR9tj1dsZfjv5XP+0whwVueXLICIQDOA79YCFF1sB15nLiDaZTr7gLbLqB+b6OTugEuWA4JoA=="
	roundTripCSR     = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlISE1HOENBUUF3RFRFTE1Ba0dBMVVFQXd3Q2NuUXdXVEFUQmdjcWhrak9QUUlCQmdncWhrak9QUU1CQndOQwpBQVFBditwN2pVZWlYQkpaTmRKZkhTUE1MQWh4NDcyOUpzRDZGdGE0eFIwYVlmVmRsN0ZsaWc0eEJiU2V1M0NsCk9MWUlqZW9MT1lGOCtnMW9JTWFsN3UvT29BQXdDZ1lJS29aSXpqMEVBd0lEU0FBd1JRSWdMejQ4aGg2dGZpa1UKdFg1cHl1Ujl0ajFkc1pmanY1WFArMHdod1Z1ZVhMSUNJUURPQTc5WUNGRjFzQjE1bkxpRGFaVHI3Z0xiTHFCKwpiNk9UdWdFdVdBNEpvQT09Ci0tLS0tRU5EIENFUlRJRklDQVRFIFJFUVVFU1QtLS0tLQo="
	roundTripCA      = "    -----BEGIN CERTIFICATE-----\n    MIIBeDCCAR2gAwIBAgIUISyw7pKPuUTUT2Cm2toxm5nERpowCgYIKoZIzj0EAwIw\n    EDEOMAwGA1UEAwwFcnQtY2EwIBcNMjYxMjAzMTcxMjA4WhgPMjEyNjExMDkxNzEy\n    MDhaMBAxDjAMBgNVBAMMBXJ0LWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n    AL/qe41HolwSWTXSXx0jzCwIceO9vSbA+hbWuMUdGmH1XZexZYoOMQW0nrtwpTi2\n    CI3qCzmBfPoNaCDGpe7vzqNTMFEwHQYDVR0OBBYEFOpdCGPxz7kUTPtgpaQdmV3y\n    aokUMB8GA1UdIwQYMBaAFOpdCGPxz7kUTPtgpaQdmV3yaokUMA8GA1UdEwEB/wQF\n    MAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhALxITw+wRwLXf7Fd+sKJgur11sXv+mok\n    XyRIteeWC/tsAiEA3KAh12CDlrdMRXyOVh0gSpO7aPepKsUsnpUndI5DG5I=\n    -----END CERTIFICATE-----\n"
)

// roundTripImmutable are merge patches of fields that cannot change once
// an object exists, with the field each must be refused for (422).
var roundTripImmutable = map[string][]struct{ patch, field string }{
	"scheduling.k8s.io/v1/priorityclasses":                {{`{"value":2000}`, "value"}},
	"apps/v1/controllerrevisions":                         {{`{"data":{"a":2}}`, "data"}},
	"/v1/secrets":                                         {{`{"type":"kubernetes.io/tls"}`, "type"}},
	"/v1/services":                                        {{`{"spec":{"clusterIP":"10.0.0.99"}}`, "spec.clusterIP"}},
	"apps/v1/deployments":                                 {{`{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}`, "spec.selector"}},
	"apps/v1/replicasets":                                 {{`{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}`, "spec.selector"}},
	"apps/v1/statefulsets":                                {{`{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}`, "spec.selector"}},
	"batch/v1/jobs":                                       {{`{"spec":{"completionMode":"Indexed"}}`, "spec.completionMode"}, {`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"alpine"}]}}}}`, "spec.template"}},
	"/v1/persistentvolumeclaims":                          {{`{"spec":{"accessModes":["ReadWriteMany"]}}`, "spec"}},
	"networking.cci.io/v1beta1/networks":                  nil,
	"apiextensions.k8s.io/v1/customresourcedefinitions":   {{`{"spec":{"group":"other.example.com"}}`, "spec.group"}},
	"networking.k8s.io/v1/ingressclasses":                 {{`{"spec":{"controller":"example.com/other"}}`, "spec.controller"}},
	"node.k8s.io/v1/runtimeclasses":                       {{`{"handler":"other"}`, "handler"}},
	"discovery.k8s.io/v1/endpointslices":                  {{`{"addressType":"IPv6","endpoints":[{"addresses":["::1"]}]}`, "addressType"}},
	"storage.k8s.io/v1/csidrivers":                        {{`{"spec":{"attachRequired":true}}`, "spec.attachRequired"}},
	"storage.k8s.io/v1/volumeattachments":                 {{`{"spec":{"nodeName":"node-2"}}`, "spec"}},
	"storage.k8s.io/v1/csistoragecapacities":              {{`{"storageClassName":"other"}`, "storageClassName"}},
	"storage.k8s.io/v1/volumeattributesclasses":           {{`{"driverName":"other.example.com"}`, "driverName"}},
	"networking.k8s.io/v1/servicecidrs":                   {{`{"spec":{"cidrs":["10.97.0.0/16"]}}`, "spec.cidrs[0]"}},
	"networking.k8s.io/v1/ipaddresses":                    {{`{"spec":{"parentRef":{"name":"other"}}}`, "spec.parentRef"}},
	"resource.k8s.io/v1/resourceclaims":                   {{`{"spec":{"devices":{"requests":[{"name":"gpu","exactly":{"deviceClassName":"other"}}]}}}`, "spec"}},
	"resource.k8s.io/v1/resourceclaimtemplates":           {{`{"spec":{"spec":{"devices":{"requests":[{"name":"gpu","exactly":{"deviceClassName":"other"}}]}}}}`, "spec"}},
	"resource.k8s.io/v1/resourceslices":                   {{`{"spec":{"driver":"other.example.com"}}`, "spec.driver"}},
	"certificates.k8s.io/v1/podcertificaterequests":       {{`{"spec":{"podName":"other"}}`, "spec"}},
	"storagemigration.k8s.io/v1/storageversionmigrations": {{`{"spec":{"resource":{"resource":"statefulsets"}}}`, "spec"}},
	"certificates.k8s.io/v1/clustertrustbundles":          {{`{"spec":{"signerName":"example.com/other"}}`, "spec.signerName"}},
}

// customGroups are the groups whose kinds have no patch strategies, so
// strategic merge is refused (415) as kube-apiserver refuses it for custom
// resources.
var customGroups = []string{"networking.cci.io", "crd.yangtse.cni", "batch.volcano.sh"}

// comparable drops what every write changes (resourceVersion,
// managedFields) and what controllers may change meanwhile (status).
func comparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(c.Object, "status")
	return c.Object
}

// TestRoundTrip: every kind the catalogue stores survives, over the real
// server and through the dynamic client, create → get → replace unchanged
// (no write) → label → annotate → merge patch → strategic merge patch (415
// for the CCI kinds) → server-side apply, each answer compared with
// semantic equality against what the step should give; and changes to
// fields that cannot change are refused with 422 naming the field.
func TestRoundTrip(t *testing.T) {
	for _, profile := range []string{"cci", "kubernetes"} {
		t.Run(profile, func(t *testing.T) {
			roundTripCatalogue(t, servertest.Start(t, func(c *app.Config) { c.Profile = profile }))
		})
	}
}

func roundTripCatalogue(t *testing.T, srv *servertest.Server) {
	ctx := ctxT(t)
	dyn, err := dynamic.NewForConfig(srv.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := srv.Clientset().Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "create") || !slices.Contains(r.Verbs, "update") {
				continue
			}
			key := gv.Group + "/" + gv.Version + "/" + r.Name
			example, ok := roundTripExamples[key]
			if !ok {
				t.Errorf("%s: no example object in roundTripExamples", key)
				continue
			}
			var ri dynamic.ResourceInterface = dyn.Resource(gv.WithResource(r.Name))
			if r.Namespaced {
				ri = dyn.Resource(gv.WithResource(r.Name)).Namespace("default")
			}
			if roundTripRefused[srv.Config.Profile][key] {
				t.Run(key, func(t *testing.T) { refusedCreate(t, ctx, ri, example) })
				continue
			}
			t.Run(key, func(t *testing.T) {
				roundTrip(t, ctx, ri, gv, key, example)
			})
		}
	}
}

// roundTripRefused are the kinds a profile serves for reads and refuses
// to create (403), by profile.
var roundTripRefused = map[string]map[string]bool{
	"cci": {"apps/v1/daemonsets": true},
}

// refusedCreate checks that the example is refused with 403 and a reason.
func refusedCreate(t *testing.T, ctx context.Context, ri dynamic.ResourceInterface, example string) {
	if _, err := ri.Create(ctx, decodeExample(t, example), metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "CCI does not support") {
		t.Fatalf("create under the cci profile: %v, want 403 saying CCI does not support it", err)
	}
	if _, err := ri.List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list of a kind CCI refuses to create: %v", err)
	}
}

// decodeExample reads an example object of roundTripExamples.
func decodeExample(t *testing.T, example string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	js, err := yaml.YAMLToJSON([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if err := obj.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	return obj
}

func roundTrip(t *testing.T, ctx context.Context, ri dynamic.ResourceInterface, gv schema.GroupVersion, key, example string) {
	obj := decodeExample(t, example)
	name := obj.GetName()
	created, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: "roundtrip"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if key == "apiextensions.k8s.io/v1/customresourcedefinitions" {
		// The server marks a new definition Established: wait for
		// that write, which would otherwise make the next ones conflict.
		waitEstablished(t, ctx, ri, name)
	}
	got, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !equality.Semantic.DeepEqual(comparable(got), comparable(created)) {
		t.Fatalf("get differs from create:\ncreate %v\nget    %v", comparable(created), comparable(got))
	}

	// Replace unchanged: nothing is written.
	replaced, err := ri.Update(ctx, got.DeepCopy(), metav1.UpdateOptions{FieldManager: "roundtrip"})
	if err != nil {
		t.Fatalf("replace unchanged: %v", err)
	}
	if !equality.Semantic.DeepEqual(comparable(replaced), comparable(got)) {
		t.Fatalf("replace unchanged changed the object:\nbefore %v\nafter  %v", comparable(got), comparable(replaced))
	}

	// Each step's answer is the previous object with its change.
	prev := replaced
	step := func(what string, do func() (*unstructured.Unstructured, error), change func(*unstructured.Unstructured)) {
		t.Helper()
		out, err := do()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want := prev.DeepCopy()
		change(want)
		if !equality.Semantic.DeepEqual(comparable(out), comparable(want)) {
			t.Fatalf("%s:\nwant %v\ngot  %v", what, comparable(want), comparable(out))
		}
		prev = out
	}
	setLabel := func(k, v string) func(*unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) {
			l := u.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			l[k] = v
			u.SetLabels(l)
		}
	}
	step("label", func() (*unstructured.Unstructured, error) {
		u := prev.DeepCopy()
		setLabel("rt-label", "1")(u)
		return ri.Update(ctx, u, metav1.UpdateOptions{FieldManager: "roundtrip"})
	}, setLabel("rt-label", "1"))
	step("annotate", func() (*unstructured.Unstructured, error) {
		u := prev.DeepCopy()
		a := u.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a["rt-annotation"] = "1"
		u.SetAnnotations(a)
		return ri.Update(ctx, u, metav1.UpdateOptions{FieldManager: "roundtrip"})
	}, func(u *unstructured.Unstructured) {
		a := u.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a["rt-annotation"] = "1"
		u.SetAnnotations(a)
	})
	step("merge patch", func() (*unstructured.Unstructured, error) {
		return ri.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"rt-merge":"1"}}}`), metav1.PatchOptions{})
	}, setLabel("rt-merge", "1"))
	if slices.Contains(customGroups, gv.Group) {
		_, err := ri.Patch(ctx, name, types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"rt-smp":"1"}}}`), metav1.PatchOptions{})
		if !apierrors.IsUnsupportedMediaType(err) {
			t.Fatalf("strategic merge patch of a CCI kind: want 415, got %v", err)
		}
	} else {
		step("strategic merge patch", func() (*unstructured.Unstructured, error) {
			return ri.Patch(ctx, name, types.StrategicMergePatchType, []byte(`{"metadata":{"labels":{"rt-smp":"1"}}}`), metav1.PatchOptions{})
		}, setLabel("rt-smp", "1"))
	}
	// Server-side apply of the object as it is, with one more label: a
	// second manager applying the values other managers set shares the
	// fields without a conflict. (The example itself would conflict for
	// the CCI kinds, whose deduced types make lists atomic: the server's
	// defaults inside them differ from the example's.)
	applied := prev.DeepCopy()
	for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"} {
		unstructured.RemoveNestedField(applied.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(applied.Object, "status")
	setLabel("rt-apply", "1")(applied)
	applyJSON, err := json.Marshal(applied.Object)
	if err != nil {
		t.Fatal(err)
	}
	step("apply", func() (*unstructured.Unstructured, error) {
		return ri.Patch(ctx, name, types.ApplyPatchType, applyJSON, metav1.PatchOptions{FieldManager: "roundtrip-apply"})
	}, setLabel("rt-apply", "1"))
	if e := managerEntry(prev, "roundtrip-apply"); e == nil || e.Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("apply left no Apply entry: %+v", prev.GetManagedFields())
	}
	if !slices.Contains(customGroups, gv.Group) {
		// The example as written, by a third manager: the kinds with a
		// schema merge lists by their keys (key defaults included), so
		// what the server filled in is no conflict and stays.
		exampleJSON, err := json.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		step("apply of the example", func() (*unstructured.Unstructured, error) {
			return ri.Patch(ctx, name, types.ApplyPatchType, exampleJSON, metav1.PatchOptions{FieldManager: "roundtrip-example"})
		}, func(*unstructured.Unstructured) {})
	}

	for _, im := range roundTripImmutable[key] {
		_, err := ri.Patch(ctx, name, types.MergePatchType, []byte(im.patch), metav1.PatchOptions{})
		if !apierrors.IsInvalid(err) {
			t.Errorf("changing %s: want 422, got %v", im.field, err)
			continue
		}
		found := false
		for _, c := range err.(apierrors.APIStatus).Status().Details.Causes {
			if c.Field == im.field || strings.HasPrefix(c.Field, im.field+".") {
				found = true
			}
		}
		if !found {
			t.Errorf("changing %s: the 422 does not name it: %v", im.field, err)
		}
	}
}

func managerEntry(u *unstructured.Unstructured, manager string) *metav1.ManagedFieldsEntry {
	for _, e := range u.GetManagedFields() {
		if e.Manager == manager {
			return &e
		}
	}
	return nil
}

// waitEstablished waits until the definition name is Established.
func waitEstablished(t *testing.T, ctx context.Context, ri dynamic.ResourceInterface, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		u, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("definition %s was not established", name)
}
