package storage

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// continueToken is the decoded form of ListResult.Continue. Every backend
// uses this one encoding, so a token from one page can be checked and
// re-issued by the layers above (the registry hands out a fresh token on a
// 410 for an expired one).
type continueToken struct {
	// Revision is the revision of the first page.
	Revision int64 `json:"rv"`
	// After is the last key returned, relative to the list prefix.
	After string `json:"start"`
}

// EncodeContinue returns the token that continues a list of prefix after
// key at revision.
func EncodeContinue(prefix, key string, revision int64) string {
	b, _ := json.Marshal(continueToken{Revision: revision, After: strings.TrimPrefix(key, prefix)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeContinue returns the absolute key to list after and the revision of
// a token made by EncodeContinue for the same prefix.
func DecodeContinue(prefix, token string) (afterKey string, revision int64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrInvalidContinue, err)
	}
	var t continueToken
	if err := json.Unmarshal(b, &t); err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrInvalidContinue, err)
	}
	if t.Revision <= 0 || t.After == "" || strings.HasPrefix(t.After, "/") || hasDotDotSegment(t.After) {
		return "", 0, ErrInvalidContinue
	}
	return prefix + t.After, t.Revision, nil
}

// hasDotDotSegment reports a ".." path segment, which could step out of the
// list prefix; ".." inside a name ("a..b") is fine.
func hasDotDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}
