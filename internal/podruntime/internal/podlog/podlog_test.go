package podlog

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/podruntime"
)

var t0 = time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC)

func TestAppendParse(t *testing.T) {
	for _, tc := range []struct {
		rec  Record
		line string
	}{
		{Record{Time: t0, Stream: Stdout, Text: []byte("hello world")}, "2026-01-02T15:04:05.123456789Z stdout F hello world\n"},
		{Record{Time: t0.Add(-123456789), Stream: Stderr, Partial: true, Text: []byte("part")}, "2026-01-02T15:04:05.000000000Z stderr P part\n"},
		{Record{Time: t0, Stream: Stdout, Text: []byte("")}, "2026-01-02T15:04:05.123456789Z stdout F \n"},
		{Record{Time: t0, Stream: Stdout, Text: []byte("a  b ")}, "2026-01-02T15:04:05.123456789Z stdout F a  b \n"},
	} {
		line := string(Append(nil, tc.rec))
		if line != tc.line {
			t.Errorf("Append(%+v) = %q, want %q", tc.rec, line, tc.line)
		}
		got, err := Parse([]byte(strings.TrimSuffix(line, "\n")))
		if err != nil || !got.Time.Equal(tc.rec.Time) || got.Stream != tc.rec.Stream || got.Partial != tc.rec.Partial || !bytes.Equal(got.Text, tc.rec.Text) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", line, got, err, tc.rec)
		}
	}
	// Other writers' lines: variable-width times, zones, tags with more fields.
	got, err := Parse([]byte("2016-10-06T00:17:09.669794202+02:00 stdout F:x log content"))
	if err != nil || string(got.Text) != "log content" || got.Time.Unix() != 1475705829 {
		t.Errorf("Parse = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "nonsense", "2016-10-06T00:17:09Z", "2016-10-06T00:17:09Z stdin F x", "2016-10-06T00:17:09Z stdout", "yesterday stdout F x"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func memoryOf(lines ...string) *Memory {
	m := NewMemory()
	for i, l := range lines {
		partial := strings.HasSuffix(l, "\\")
		m.Add(Record{Time: t0.Add(time.Duration(i) * time.Second), Stream: Stdout, Partial: partial, Text: []byte(strings.TrimSuffix(l, "\\"))})
	}
	return m
}

func read(t *testing.T, m *Memory, o podruntime.LogOptions) string {
	t.Helper()
	rd := NewReader(context.Background(), m.Source(), o)
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The options combine as the kubelet combines them: the tail first, then
// the since filter; partial records join their line; the byte limit cuts.
func TestReaderOptions(t *testing.T) {
	m := memoryOf("a", "b", "long \\", "line", "c")
	for _, tc := range []struct {
		o    podruntime.LogOptions
		want string
	}{
		{podruntime.LogOptions{TailLines: -1}, "a\nb\nlong line\nc\n"},
		{podruntime.LogOptions{}, ""},
		{podruntime.LogOptions{TailLines: 2}, "line\nc\n"},
		{podruntime.LogOptions{TailLines: 100}, "a\nb\nlong line\nc\n"},
		{podruntime.LogOptions{TailLines: -1, SinceTime: t0.Add(time.Second)}, "b\nlong line\nc\n"},
		{podruntime.LogOptions{TailLines: 4, SinceTime: t0.Add(3 * time.Second)}, "line\nc\n"},
		{podruntime.LogOptions{TailLines: 1, SinceTime: t0}, "c\n"},
		{podruntime.LogOptions{TailLines: -1, LimitBytes: 3}, "a\nb"},
		{podruntime.LogOptions{TailLines: -1, LimitBytes: 4}, "a\nb\n"},
		{podruntime.LogOptions{TailLines: 1, Timestamps: true}, "2026-01-02T15:04:09.123456789Z c\n"},
		{podruntime.LogOptions{TailLines: 1, Timestamps: true, LimitBytes: 10}, "2026-01-02"},
	} {
		if got := read(t, m, tc.o); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.o, got, tc.want)
		}
	}
}

// A follower returns new records as they come, starts over after a
// truncation, and ends once the writer finished and it read the rest.
func TestReaderFollow(t *testing.T) {
	m := memoryOf("a")
	rd := NewReader(context.Background(), m.Source(), podruntime.LogOptions{TailLines: -1, Follow: true})
	defer rd.Close()
	buf := make([]byte, 64)
	readSome := func(want string) {
		t.Helper()
		n, err := rd.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("Read = %q, %v; want %q", buf[:n], err, want)
		}
	}
	readSome("a\n")
	go m.Add(Record{Time: t0, Stream: Stdout, Text: []byte("b")})
	readSome("b\n")
	m.Truncate()
	m.Add(Record{Time: t0, Stream: Stdout, Text: []byte("c")})
	readSome("c\n")
	m.Add(Record{Time: t0, Stream: Stdout, Text: []byte("d")})
	m.Finish()
	readSome("d\n")
	if n, err := rd.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("after Finish: %d, %v; want io.EOF", n, err)
	}
}

func TestReaderContextEndsFollow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rd := NewReader(ctx, NewMemory().Source(), podruntime.LogOptions{TailLines: -1, Follow: true})
	done := make(chan error)
	go func() {
		_, err := io.ReadAll(rd)
		done <- err
	}()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("a follower whose context ended: %v, want a clean end", err)
	}
	rd.Close()
	if _, err := rd.Read(make([]byte, 1)); err == nil {
		t.Errorf("Read after Close succeeded")
	}
}

// The fallback message is the last 80 lines, cut to their last 2048 bytes.
func TestFallback(t *testing.T) {
	var lines []string
	for i := range 100 {
		lines = append(lines, strings.Repeat("x", 10)+string(rune('a'+i%26)))
	}
	got, err := Fallback(memoryOf(lines...).Source())
	if want := strings.Join(lines[20:], "\n") + "\n"; err != nil || got != want {
		t.Errorf("Fallback = %q, %v; want the last 80 lines", got, err)
	}
	long := strings.Repeat("y", 3000)
	got, _ = Fallback(memoryOf("first", long).Source())
	if want := long[len(long)-2047:] + "\n"; got != want {
		t.Errorf("Fallback of a long line = %d bytes, want the last 2048", len(got))
	}
}
