package auth

import (
	"encoding/json"
	"net/http"
)

// Service account issuer discovery: the two documents kube-apiserver
// serves so that others can verify its tokens as OpenID Connect ID tokens
// (Vault, cloud identity federation, a pod checking another's token).

// OpenIDConfiguration is the document served at
// /.well-known/openid-configuration, with kube-apiserver's fields.
type OpenIDConfiguration struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
}

// discoveryCacheControl lets clients cache the documents for an hour, as
// kube-apiserver lets them.
const discoveryCacheControl = "public, max-age=3600"

// DiscoveryHandler serves GET /.well-known/openid-configuration and GET
// /openid/v1/jwks (the caller routes only those two paths here, after
// authentication and authorization). jwksURI returns the URL of the key
// set to publish: the server's own address, known once it listens.
func (i *TokenIssuer) DiscoveryHandler(jwksURI func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body any
		contentType := "application/json"
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			body = OpenIDConfiguration{
				Issuer: i.issuer, JWKSURI: jwksURI(),
				ResponseTypesSupported:           []string{"id_token"},
				SubjectTypesSupported:            []string{"public"},
				IDTokenSigningAlgValuesSupported: []string{"RS256"},
			}
		case "/openid/v1/jwks":
			body = i.JWKS()
			contentType = "application/jwk-set+json"
		default:
			http.NotFound(w, r)
			return
		}
		data, err := json.Marshal(body)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", discoveryCacheControl)
		_, _ = w.Write(data)
	})
}
