package lineindex

import (
	"errors"
	"math"
	"strings"
)

// Reasons a line number is refused by [ParseLineNumber].
var (
	errNumberEmpty    = errors.New("empty line number")
	errNumberSyntax   = errors.New("not a plain decimal number")
	errNumberZero     = errors.New("line numbers start at 1")
	errNumberTooLarge = errors.New("line number too large")
	errRangeSyntax    = errors.New("not a line number N or a range N-M")
	errRangeBackwards = errors.New("a range N-M must not end before it starts")
)

// ParseLineNumber parses a line number: one or more ASCII digits, nothing
// else (no sign, space or fraction), with a value from 1 to math.MaxInt64.
// Leading zeros are allowed, as in sed.
func ParseLineNumber(s string) (int64, error) {
	if s == "" {
		return 0, errNumberEmpty
	}
	var n int64
	tooLarge := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errNumberSyntax
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			tooLarge = true // keep checking the syntax of the rest
			continue
		}
		n = n*10 + d
	}
	switch {
	case tooLarge:
		return 0, errNumberTooLarge
	case n == 0:
		return 0, errNumberZero
	}
	return n, nil
}

// ParseLines parses a line number N, or a range N-M of line numbers (each as
// ParseLineNumber takes it, N ≤ M), and returns the first and last line.
func ParseLines(s string) (first, last int64, err error) {
	a, b, isRange := strings.Cut(s, "-")
	switch {
	case isRange && a == "":
		return 0, 0, errNumberSyntax // a negative number
	case isRange && b == "":
		return 0, 0, errRangeSyntax
	}
	if first, err = ParseLineNumber(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return first, first, nil
	}
	if last, err = ParseLineNumber(b); err != nil {
		return 0, 0, err
	}
	if first > last {
		return 0, 0, errRangeBackwards
	}
	return first, last, nil
}
