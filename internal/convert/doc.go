// Package convert translates objects between the legacy group-versions
// Cella serves and the version it stores:
//
//	extensions/v1beta1 Ingress             <-> networking.k8s.io/v1 Ingress
//	batch/v1beta1 CronJob                  <-> batch/v1 CronJob
//	autoscaling/v1 HorizontalPodAutoscaler <-> autoscaling/v2 HorizontalPodAutoscaler
//	events.k8s.io/v1 Event                 <-> core v1 Event
//
// Every function is pure: it never changes its argument and the result
// shares no memory with it. Metadata is carried over unchanged (except the
// annotations the HPA conversion owns, see hpa.go) and the result's
// TypeMeta names its group-version and kind. List items carry no TypeMeta,
// as in Kubernetes list responses.
//
// Conversions are lossless for objects that are valid in the source
// version: converting to the other version and back yields the original.
// Defaulting (such as an Ingress path's pathType) is not conversion and
// belongs to the resource's strategy.
package convert
