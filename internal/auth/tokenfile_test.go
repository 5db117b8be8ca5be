package auth

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseTokenCSV(t *testing.T) {
	in := "# static tokens\n" +
		"t1,alice,1001,\"devs,ops\"\n" +
		"\n" +
		"t2, bob, 1002\n" +
		"t3,carol,,\" a , ,b \"\n" +
		"\"t,4\",dave,1004,\n"
	got, err := ParseTokenCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []StaticToken{
		{Token: "t1", User: User{Name: "alice", UID: "1001", Groups: []string{"devs", "ops"}}},
		{Token: "t2", User: User{Name: "bob", UID: "1002"}},
		{Token: "t3", User: User{Name: "carol", Groups: []string{"a", "b"}}},
		{Token: "t,4", User: User{Name: "dave", UID: "1004"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tokens %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Token != w.Token || g.User.Name != w.User.Name || g.User.UID != w.User.UID || !slices.Equal(g.User.Groups, w.User.Groups) {
			t.Errorf("token %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestParseTokenCSVErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"too few columns", "t1,alice,1\nt2,bob\n", "line 2: want token,user,uid"},
		{"one column", "\n\nt1\n", "line 3: want token,user,uid[,\"groups\"], found 1 column(s)"},
		{"unquoted groups", "t1,alice,1,devs,ops\n", "line 1: want at most 4 columns, found 5 (quote the groups column"},
		{"empty token", "t1,alice,1\n,bob,2\n", "line 2: empty token"},
		{"empty user", "t1, ,1\n", "line 1: empty user name"},
		{"duplicate token", "t1,alice,1\n# c\nt1,bob,2\n", "line 3: token already used on line 1"},
		{"bare quote", "t1,alice,1\nt\"2,bob,2\n", "line 2"},
		{"unterminated quote", "t1,alice,1,\"devs\nt2,bob,2\n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTokenCSV(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseTokenCSV = %v, want error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(tt.name, "duplicate") && strings.Contains(err.Error(), "t1") {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}

func TestLoadTokenFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(good, []byte("t1,alice,1001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokenFile(good)
	if err != nil || len(tokens) != 1 || tokens[0].User.Name != "alice" {
		t.Errorf("LoadTokenFile = %+v, %v", tokens, err)
	}

	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("t1,alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTokenFile(bad); err == nil || !strings.Contains(err.Error(), bad+": line 1") {
		t.Errorf("LoadTokenFile(bad) = %v, want the path and line", err)
	}
	if _, err := LoadTokenFile(filepath.Join(dir, "missing.csv")); err == nil {
		t.Error("LoadTokenFile(missing) succeeded")
	}
}
