package process

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"cella.dev/cella/internal/podruntime"
)

// Probe limits, as the kubelet's.
const (
	defaultProbeTimeout = time.Second
	// maxProbeOutput is the most of an exec probe's output, or an httpGet
	// probe's body, that is read.
	maxProbeOutput = 10 << 10
	// probeUserAgent is what httpGet probes send, as the kubelet of the
	// Kubernetes version Cella serves.
	probeUserAgent = "kube-probe/1.37"
)

// Probe runs one check of a running container: an exec probe as a process
// with the container's environment and working directory, an httpGet or
// tcpSocket or grpc probe against the pod's IP.
func (r *Runtime) Probe(ctx context.Context, uid, name string, pr podruntime.Probe) (bool, string, error) {
	p, c, err := r.lookupContainer(uid, name)
	if err != nil {
		return false, "", err
	}
	a, ip := c.latest, p.sb.IP
	running := a.exit == nil
	p.mu.Unlock()
	if !running {
		return false, "", fmt.Errorf("probing container %q of pod %s: %w", name, uid, errNotRunning)
	}
	timeout := pr.Timeout
	if timeout <= 0 {
		timeout = defaultProbeTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var ok bool
	var reason string
	switch {
	case len(pr.Exec) > 0:
		ok, reason, err = probeExec(pctx, pr.Exec, a, timeout)
	case pr.HTTPGet != nil:
		ok, reason, err = probeHTTP(pctx, ip, pr.HTTPGet)
	case pr.TCPPort > 0:
		ok, reason, err = probeTCP(pctx, ip, pr.TCPPort)
	case pr.GRPCPort > 0:
		ok, reason, err = probeGRPC(pctx, ip, pr.GRPCPort, pr.GRPCService, timeout)
	default:
		return false, "", fmt.Errorf("%w: a probe without a check", podruntime.ErrInvalid)
	}
	if ctx.Err() != nil {
		// The caller gave up: the check did not run to its end.
		return false, "", ctx.Err()
	}
	return ok, reason, err
}

// probeExec runs command as a process of the running attempt a (in its
// namespaces when isolated), in its own process group, with the
// container's environment and working directory. Exit 0 passes; another
// code fails, with the output as the reason.
func probeExec(ctx context.Context, command []string, a *attempt, timeout time.Duration) (bool, string, error) {
	spec := a.spec
	path, err := a.lookPath(command[0])
	if err != nil {
		return false, "", err
	}
	cmd := exec.CommandContext(ctx, path, command[1:]...)
	cmd.Args[0] = command[0]
	cmd.Env, cmd.Dir = spec.Env, spec.WorkingDir
	cmd.SysProcAttr = groupAttr()
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid)
		return nil
	}
	cmd.WaitDelay = time.Second
	out := &limitedBuffer{max: maxProbeOutput}
	cmd.Stdout, cmd.Stderr = out, out
	if err = a.startProcess(cmd); err == nil {
		err = cmd.Wait()
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return false, fmt.Sprintf("command %q timed out after %v", strings.Join(command, " "), timeout), nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, "", nil
	case errors.As(err, &ee):
		reason := strings.TrimSpace(out.String())
		if reason == "" {
			reason = fmt.Sprintf("command %q exited with code %d", strings.Join(command, " "), exitCode(ee.ProcessState))
		}
		return false, reason, nil
	default:
		return false, "", err
	}
}

// probeHTTP sends a GET to the pod's IP (or h.Host); a status from 200 to
// 399 passes. Redirects are not followed: a 3xx passes as it is.
func probeHTTP(ctx context.Context, ip string, h *podruntime.HTTPGet) (bool, string, error) {
	host := h.Host
	if host == "" {
		host = ip
	}
	scheme := "http"
	if strings.EqualFold(h.Scheme, "HTTPS") {
		scheme = "https"
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(h.Port)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, "", fmt.Errorf("%w: httpGet probe: %v", podruntime.ErrInvalid, err)
	}
	req.Header.Set("User-Agent", probeUserAgent)
	req.Header.Set("Accept", "*/*")
	for k, v := range h.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{
		Transport: &http.Transport{
			// A probe checks the pod, not its certificate, as the kubelet's.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error(), nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeOutput))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, "", nil
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode), nil
}

// probeTCP passes when a connection to the pod's IP and port opens.
func probeTCP(ctx context.Context, ip string, port int) (bool, string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false, err.Error(), nil
	}
	conn.Close()
	return true, "", nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
