package app

import (
	"strings"
	"testing"
	"time"
)

// TestValidateRejectsNonPositiveDurations: every duration flag that must be
// positive is named in the error, all at once.
func TestValidateRejectsNonPositiveDurations(t *testing.T) {
	c := NewConfig()
	c.ReadHeaderTimeout, c.BodyIdleTimeout, c.RequestTimeout = 0, -time.Second, 0
	c.CompactionInterval, c.IdempotencyKeyTTL, c.StorageTimeout = 0, 0, 0
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted zero durations")
	}
	for _, flag := range []string{"--read-header-timeout", "--body-idle-timeout", "--request-timeout", "--compaction-interval", "--idempotency-key-ttl", "--storage-timeout"} {
		if !strings.Contains(err.Error(), flag+" must be positive") {
			t.Errorf("the error does not name %s: %v", flag, err)
		}
	}
	if err := NewConfig().Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
}
