package registry

import (
	"bytes"
	"crypto/rand"
	"strconv"
)

// metadataOpen is how every stored object's metadata begins. Objects are
// stored without metadata.resourceVersion (the revision is only known once
// the write commits); reads splice it in after this prefix. TypeMeta (kind,
// apiVersion) is encoded before metadata and cannot contain it.
var metadataOpen = []byte(`"metadata":{`)

// withResourceVersion returns stored JSON with metadata.resourceVersion set
// to rv. The result is a new slice; raw is not modified.
func withResourceVersion(raw []byte, rv int64) []byte {
	i := bytes.Index(raw, metadataOpen)
	if i < 0 {
		return raw
	}
	at := i + len(metadataOpen)
	var num [20]byte
	n := strconv.AppendInt(num[:0], rv, 10)
	out := make([]byte, 0, len(raw)+len(n)+24)
	out = append(out, raw[:at]...)
	out = append(out, `"resourceVersion":"`...)
	out = append(out, n...)
	out = append(out, '"')
	if at < len(raw) && raw[at] != '}' {
		out = append(out, ',')
	}
	out = append(out, raw[at:]...)
	return out
}

// randomSuffix returns n characters for generateName, from the same
// consonant-and-digit alphabet Kubernetes uses (no vowels, so no words).
func randomSuffix(n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
