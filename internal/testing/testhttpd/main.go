// Command testhttpd is the small HTTP server Cella's tests run as a pod
// (with the process runtime) to reach through port-forward, the proxy
// subresources and the forward proxy. Tests build it with `go build` into
// a temporary directory; it is not part of the cella binary.
//
// It listens on -listen (give the pod's IP, from the downward API, so that
// pods sharing the host's network do not collide) and answers:
//
//	/healthz         200 "ok" (for readiness probes)
//	/echo/...        200, a JSON object: the name (-name), method, path,
//	                 raw path, query, headers and body of the request
//	/redirect?to=U   302 to U
//	/sleep?d=D       waits D (a Go duration) or until the client leaves,
//	                 then 200 "slept"
//	anything else    200 "hello from NAME\n"
//
// With -garbage ADDR it also listens on ADDR and answers every connection
// with bytes that are not HTTP, then closes it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve HTTP on")
	garbage := flag.String("garbage", "", "address to answer with bytes that are not HTTP (none when empty)")
	name := flag.String("name", os.Getenv("HOSTNAME"), "name the server gives in its answers")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *garbage != "" {
		ln, err := net.Listen("tcp", *garbage)
		if err != nil {
			log.Fatal(err)
		}
		go serveGarbage(ln)
	}
	srv := &http.Server{Addr: *listen, Handler: handler(*name), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("testhttpd %s listening on %s\n", *name, *listen)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// Echo is what /echo/ answers.
type Echo struct {
	Name    string      `json:"name"`
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	RawPath string      `json:"rawPath"`
	Query   string      `json:"query"`
	Host    string      `json:"host"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
}

func handler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/echo/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Echo{
			Name: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Host: r.Host, Header: r.Header, Body: string(body),
		})
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Query().Get("to"))
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, "d: "+err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "slept")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "hello from %s\n", name)
	})
	return mux
}

// serveGarbage answers each connection with a line that is not HTTP.
func serveGarbage(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_, _ = io.WriteString(c, "SSH-2.0-not-http\r\n\r\n")
		}()
	}
}
