package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Pos is a position in a configuration file. Line and Col start at 1;
// zero means unknown.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats p as file:line:col, leaving out unknown parts.
func (p Pos) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
		if p.Col > 0 {
			s += ":" + strconv.Itoa(p.Col)
		}
	}
	return s
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// Pos is where the problem was found.
	Pos Pos
	// Path names the field, like models.gpt-4o.targets[1].provider; empty
	// for problems with the file as a whole, such as a YAML syntax error.
	Path string
	// Message says what is wrong and, where it can, how to fix it.
	Message string
}

// String formats p as FILE:LINE:COL: PATH: MESSAGE.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Pos.String() + ": " + p.Message
	}
	return p.Pos.String() + ": " + p.Path + ": " + p.Message
}

// Error is every problem found in one configuration file, sorted by position.
// Parse and Load return it as a *Error.
type Error struct {
	// Problems holds at least one problem, sorted by position.
	Problems []Problem
}

// Error returns one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position and drops exact repeats, which
// a YAML alias used twice can produce.
func sortProblems(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return slices.Compact(ps)
}

// suggest returns the candidate closest to got, or "" if none is close
// enough to be a likely typo. Case, '-' and '_' differences count as close.
func suggest(got string, candidates []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", -1
	for _, c := range candidates {
		if norm(c) == norm(got) {
			return c
		}
		d := editDistance(strings.ToLower(got), strings.ToLower(c))
		limit := 1 // short names: gpt-5 is not a typo of gpt-4o
		if len(c) > 12 {
			limit = 3
		} else if len(c) > 6 {
			limit = 2
		}
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and adjacent transpositions cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20 // not a typo of a field name; skip the quadratic work
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// unknownMessage words an unknown name with a suggestion when there is one.
// It lists the valid names when there is no suggestion, or always if asked.
func unknownMessage(what, got string, valid []string, always bool) string {
	msg := "unknown " + what + " " + strconv.Quote(got)
	s := suggest(got, valid)
	if s != "" {
		msg += "; did you mean " + s + "?"
	}
	if len(valid) > 0 && (s == "" || always) {
		msg += " (expected one of " + strings.Join(valid, ", ") + ")"
	}
	return msg
}
