package auth

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// LoadTokenFile reads a static token file in Kubernetes' format; see
// ParseTokenCSV. Errors name the file and the line.
func LoadTokenFile(path string) ([]StaticToken, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: token file: %w", err)
	}
	defer f.Close()
	tokens, err := ParseTokenCSV(f)
	if err != nil {
		return nil, fmt.Errorf("auth: token file %s: %w", path, err)
	}
	return tokens, nil
}

// ParseTokenCSV parses Kubernetes' static token file format: one CSV record
// per line,
//
//	token,user,uid[,"group1,group2"]
//
// The groups column is optional and, holding commas, must be quoted. Blank
// lines and lines starting with # are skipped, spaces after a comma are
// ignored, and group names are trimmed. Kubernetes accepts (and ignores) a
// fifth column; Cella rejects it, since it is almost always an unquoted
// group list that would otherwise lose groups silently. Empty tokens or user
// names and repeated tokens are errors too. Every error names its line.
func ParseTokenCSV(r io.Reader) ([]StaticToken, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	cr.ReuseRecord = true

	var tokens []StaticToken
	seen := make(map[string]int) // token -> line of first use
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return tokens, nil
		}
		if err != nil {
			// csv.ParseError already says "record on line N".
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		switch {
		case len(rec) < 3:
			return nil, fmt.Errorf("line %d: want token,user,uid[,\"groups\"], found %d column(s)", line, len(rec))
		case len(rec) > 4:
			return nil, fmt.Errorf("line %d: want at most 4 columns, found %d (quote the groups column: \"group1,group2\")", line, len(rec))
		case rec[0] == "":
			return nil, fmt.Errorf("line %d: empty token", line)
		case rec[1] == "":
			return nil, fmt.Errorf("line %d: empty user name", line)
		}
		if first, dup := seen[rec[0]]; dup {
			// The token itself is a secret: name lines, not the value.
			return nil, fmt.Errorf("line %d: token already used on line %d", line, first)
		}
		seen[rec[0]] = line

		u := User{Name: rec[1], UID: rec[2]}
		if len(rec) == 4 {
			for g := range strings.SplitSeq(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		tokens = append(tokens, StaticToken{Token: rec[0], User: u})
	}
}
