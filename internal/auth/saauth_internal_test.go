package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fixedObjects map[string]ObjectInfo

func (f fixedObjects) Object(_ context.Context, resource, namespace, name string) (ObjectInfo, bool, error) {
	o, ok := f[resource+"/"+namespace+"/"+name]
	return o, ok, nil
}

// BenchmarkServiceAccountAuthenticate measures what authenticating one
// request with a bound token costs, lookups aside.
func BenchmarkServiceAccountAuthenticate(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	iss, err := NewTokenIssuer(key, DefaultServiceAccountIssuer, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	objs := fixedObjects{"serviceaccounts/ns/sa": {UID: "sa-uid"}, "pods/ns/p": {UID: "pod-uid"}}
	tok, _, err := iss.Issue(BoundToken{Namespace: "ns", ServiceAccount: ObjectRef{Name: "sa", UID: "sa-uid"},
		Pod: &ObjectRef{Name: "p", UID: "pod-uid"}, Audiences: iss.Audiences(), Lifetime: 3600e9})
	if err != nil {
		b.Fatal(err)
	}
	a := NewServiceAccountAuthenticator(iss, objs)
	ctx := context.Background()
	for b.Loop() {
		if _, _, ok, err := a.AuthenticateToken(ctx, tok, nil); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// TestServiceAccountTokenExpiry: a token works until one minute past its
// exp, whether or not its verification is remembered, and then says why
// it does not.
func TestServiceAccountTokenExpiry(t *testing.T) {
	key, err := EnsureServiceAccountKey(filepath.Join(t.TempDir(), ServiceAccountKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	iss, err := NewTokenIssuer(key, DefaultServiceAccountIssuer, nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	objs := fixedObjects{"serviceaccounts/ns/sa": {UID: "sa-uid"}}
	tok, exp, err := iss.Issue(BoundToken{Namespace: "ns", ServiceAccount: ObjectRef{Name: "sa", UID: "sa-uid"},
		Audiences: iss.Audiences(), Lifetime: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a := NewServiceAccountAuthenticator(iss, objs)
	for _, tc := range []struct {
		at      time.Time
		ok      bool
		wantErr string
	}{
		{now, true, ""},
		{exp.Add(59 * time.Second), true, ""},
		{exp.Add(61 * time.Second), false, "service account token has expired"},
	} {
		now = tc.at
		u, _, ok, err := a.AuthenticateToken(context.Background(), tok, nil)
		if ok != tc.ok || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("at %v: %v %v %v, want ok=%v err %q", tc.at, u.Name, ok, err, tc.ok, tc.wantErr)
		}
	}
}

// TestServiceAccountKeyFile: the key is made once, 0600, and kept; a file
// that holds no key is an error, never replaced.
func TestServiceAccountKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ServiceAccountKeyFile)
	k1, err := EnsureServiceAccountKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi.Mode(), err)
	}
	k2, err := EnsureServiceAccountKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load: %v, same key %v", err, k1.Equal(k2))
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureServiceAccountKey(path); err == nil {
		t.Fatal("a file without a key was accepted")
	}
	if b, _ := os.ReadFile(path); string(b) != "not a key" {
		t.Fatal("the file without a key was replaced")
	}
}
