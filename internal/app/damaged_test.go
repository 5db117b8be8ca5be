package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
)

// damage overwrites the JSON of key in a stopped server's store with bytes
// that are not an object, keeping the record header, as a damaged disk
// page would (docs/storage-format.md: a bucketKeys value is createRev,
// modRev, modTime, then the JSON).
func damage(t *testing.T, dataDir, key string) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dataDir, "cella.db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("keys"))
		v := b.Get([]byte(key))
		if len(v) < 24 {
			t.Fatalf("no record for %s", key)
		}
		rec := append([]byte(nil), v[:24]...)
		rec = append(rec, `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"na`...)
		rec = append(rec, 0xff, 0x00, 0x13)
		return b.Put([]byte(key), rec)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countingHandler counts log records whose message starts with prefix.
type countingHandler struct {
	slog.Handler
	prefix string
	n      *atomic.Int32
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.n.Add(1)
	}
	return nil
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h countingHandler) WithGroup(string) slog.Handler            { return h }

// TestDamagedRecord: an object whose stored bytes are damaged is never
// served as a success. GET and LIST answer 500 with reason
// StorageReadError and a message naming the key, logged once however
// often it is read; other objects are served as before; the damaged object
// can be deleted, and a namespace holding one can be deleted too.
func TestDamagedRecord(t *testing.T) {
	dir := t.TempDir()
	srv := servertest.Start(t, servertest.WithDataDir(dir))
	ctx := context.Background()
	cs := srv.Clientset()
	for _, ns := range []string{"dmg", "gone"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Annotations: map[string]string{"namespace.kubernetes.io/flavor": "general-computing"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"good", "bad"} {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv.Stop()
	const badKey = "/registry/core/configmaps/dmg/bad"
	damage(t, dir, badKey)
	damage(t, dir, "/registry/core/configmaps/gone/bad")

	var reports atomic.Int32
	log := slog.New(countingHandler{prefix: "damaged object", n: &reports})
	srv = servertest.StartLogged(t, log, servertest.WithDataDir(dir))
	cs = srv.Clientset()
	hc := srv.HTTPClient()

	status := func(path string) metav1.Status {
		t.Helper()
		resp, err := hc.Do(srv.Request(http.MethodGet, path, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var st metav1.Status
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("GET %s: %d with a body that is not a Status: %q", path, resp.StatusCode, body)
		}
		if resp.StatusCode != http.StatusInternalServerError || st.Kind != "Status" || st.Code != 500 ||
			st.Reason != metav1.StatusReasonStoreReadError || !strings.Contains(st.Message, badKey) {
			t.Fatalf("GET %s: want a 500 StorageReadError naming %s, got %d %+v", path, badKey, resp.StatusCode, st)
		}
		return st
	}
	status("/api/v1/namespaces/dmg/configmaps/bad")
	status("/api/v1/namespaces/dmg/configmaps/bad")
	status("/api/v1/namespaces/dmg/configmaps")
	status("/api/v1/namespaces/dmg/configmaps?resourceVersion=0")
	if n := reports.Load(); n != 1 {
		t.Errorf("the damaged object was logged %d times, want once", n)
	}
	if _, err := cs.CoreV1().ConfigMaps("dmg").Get(ctx, "good", metav1.GetOptions{}); err != nil {
		t.Fatalf("an undamaged neighbour: %v", err)
	}
	if err := cs.CoreV1().ConfigMaps("dmg").Delete(ctx, "bad", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting the damaged object: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("dmg").Get(ctx, "bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the delete: want NotFound, got %v", err)
	}
	// "good" is left (beside kube-root-ca.crt, if the serviceaccount
	// controller made it before the first server stopped).
	if l, err := cs.CoreV1().ConfigMaps("dmg").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name!=kube-root-ca.crt"}); err != nil || len(l.Items) != 1 {
		t.Fatalf("list after the delete: %v", err)
	}

	// The namespace controller empties a namespace with deletecollection,
	// which removes the damaged object with the rest.
	if err := cs.CoreV1().Namespaces().Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "gone", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the namespace holding a damaged object was not deleted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
