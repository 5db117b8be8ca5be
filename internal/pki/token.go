package pki

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"cella.dev/cella/internal/atomicfile"
)

// EnsureToken returns the token stored at path, creating the file (mode
// 0600) with 32 random bytes in hex when it does not exist or is empty. A
// token written there by hand is kept, surrounding whitespace trimmed; one
// with whitespace or a comma inside is an error, since it could not be sent
// as a bearer token or listed in a token file.
func EnsureToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		token := strings.TrimSpace(string(data))
		if token == "" {
			break
		}
		if strings.ContainsAny(token, " \t\r\n,") {
			return "", fmt.Errorf("pki: token file %s: the token contains whitespace or a comma", path)
		}
		return token, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("pki: token file: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pki: token: %w", err)
	}
	token := hex.EncodeToString(b)
	if err := atomicfile.Write(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("pki: token file: %w", err)
	}
	return token, nil
}
