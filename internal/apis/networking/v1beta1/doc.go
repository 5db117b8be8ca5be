// Package v1beta1 holds CCI's networking.cci.io/v1beta1 API: the Network
// object that binds a namespace to a VPC subnet.
//
// Types here carry hand-written deep copies and SwaggerDoc descriptions; a
// test checks that every JSON field is described and deep-copied.
package v1beta1
