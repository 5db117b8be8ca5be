package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// probeGRPC asks the pod's gRPC health service (grpc.health.v1.Health,
// Check) about service over plaintext, as the kubelet does: SERVING
// passes; any other status, an error from the call or a connection that
// does not open fails, with the kubelet's wording as the reason. The
// whole check, connecting included, is bounded by ctx (the probe's
// timeoutSeconds); err is only for a probe that cannot be made at all.
func probeGRPC(ctx context.Context, ip string, port int, service string, timeout time.Duration) (bool, string, error) {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(probeUserAgent),
	)
	if err != nil {
		return false, "", fmt.Errorf("grpc probe of %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(true))
	if err != nil {
		st, _ := status.FromError(err)
		switch {
		case st.Code() == codes.Unimplemented:
			return false, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): " + st.Message(), nil
		case st.Code() == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
			// WaitForReady makes a connection that never opens end here
			// too; say which of the two it was.
			if conn.GetState() != connectivity.Ready {
				return false, fmt.Sprintf("timeout: failed to connect service %q within %v: %v", addr, timeout, err), nil
			}
			return false, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
		}
		return false, fmt.Sprintf("error: health rpc probe failed: %v", err), nil
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return false, fmt.Sprintf("service unhealthy (responded with %q)", s.String()), nil
	}
	return true, "", nil
}
