package lineindex

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestParseLineNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		err  error
	}{
		{"1", 1, nil},
		{"2", 2, nil},
		{"007", 7, nil},
		{"10", 10, nil},
		{"123456789", 123456789, nil},
		{"9223372036854775807", math.MaxInt64, nil},
		{"09223372036854775807", math.MaxInt64, nil},
		{"0000000000000000000000000000001", 1, nil},

		{"", 0, errNumberEmpty},

		{"0", 0, errNumberZero},
		{"00", 0, errNumberZero},
		{"0000000000000000000000000", 0, errNumberZero},

		{"9223372036854775808", 0, errNumberTooLarge},
		{"9223372036854775810", 0, errNumberTooLarge},
		{"18446744073709551616", 0, errNumberTooLarge},
		{"99999999999999999999999", 0, errNumberTooLarge},
		{"92233720368547758070", 0, errNumberTooLarge},

		{"-1", 0, errNumberSyntax},
		{"-0", 0, errNumberSyntax},
		{"+1", 0, errNumberSyntax},
		{" 1", 0, errNumberSyntax},
		{"1 ", 0, errNumberSyntax},
		{"1\n", 0, errNumberSyntax},
		{"\t1", 0, errNumberSyntax},
		{"1.5", 0, errNumberSyntax},
		{"1.", 0, errNumberSyntax},
		{"1,000", 0, errNumberSyntax},
		{"1_000", 0, errNumberSyntax},
		{"abc", 0, errNumberSyntax},
		{"1e3", 0, errNumberSyntax},
		{"0x10", 0, errNumberSyntax},
		{"0b1", 0, errNumberSyntax},
		{"0o7", 0, errNumberSyntax},
		{"١", 0, errNumberSyntax},  // ARABIC-INDIC DIGIT ONE
		{"１", 0, errNumberSyntax},  // FULLWIDTH DIGIT ONE
		{"1١", 0, errNumberSyntax}, // an ASCII digit, then another
		{"\x00", 0, errNumberSyntax},
		{"1\x00", 0, errNumberSyntax},
		{"\xff", 0, errNumberSyntax},
		{" ", 0, errNumberSyntax},
		// A syntax error is reported even past an overflow.
		{"99999999999999999999999x", 0, errNumberSyntax},
	}
	for _, tt := range tests {
		got, err := ParseLineNumber(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseLineNumber(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseLineNumberErrorsDiffer(t *testing.T) {
	t.Parallel()
	errs := []error{errNumberEmpty, errNumberSyntax, errNumberZero, errNumberTooLarge}
	for i, a := range errs {
		if a.Error() == "" {
			t.Errorf("error %d has no message", i)
		}
		for _, b := range errs[i+1:] {
			if errors.Is(a, b) || a.Error() == b.Error() {
				t.Errorf("%q and %q are not distinct", a, b)
			}
		}
	}
}

// refParseLineNumber is the reference for ParseLineNumber: strconv, after
// checking that s is all ASCII digits.
func refParseLineNumber(s string) (int64, error) {
	if s == "" {
		return 0, errNumberEmpty
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errNumberSyntax
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, errNumberTooLarge
	case err != nil:
		return 0, errNumberSyntax
	case n < 1:
		return 0, errNumberZero
	}
	return n, nil
}

func TestParseLineNumberEveryValueNearLimits(t *testing.T) {
	t.Parallel()
	for _, n := range []uint64{1, 9, 10, 99, 100, math.MaxInt64 - 10, math.MaxInt64 - 1, math.MaxInt64} {
		for d := uint64(0); d <= 20 && n+d > n; d++ {
			s := strconv.FormatUint(n+d, 10)
			got, err := ParseLineNumber(s)
			want, wantErr := refParseLineNumber(s)
			if got != want || !errors.Is(err, wantErr) {
				t.Errorf("ParseLineNumber(%q) = %d, %v; want %d, %v", s, got, err, want, wantErr)
			}
		}
	}
}

func BenchmarkParseLineNumber(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLineNumber("123456789"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in          string
		first, last int64
		err         error
	}{
		{"7", 7, 7, nil},
		{"10-20", 10, 20, nil},
		{"5-5", 5, 5, nil},
		{"007-010", 7, 10, nil},
		{"1-9223372036854775807", 1, math.MaxInt64, nil},

		{"20-10", 0, 0, errRangeBackwards},
		{"-1", 0, 0, errNumberSyntax},
		{"1-", 0, 0, errRangeSyntax},
		{"-", 0, 0, errNumberSyntax},
		{"--1", 0, 0, errNumberSyntax},
		{"1--2", 0, 0, errNumberSyntax},
		{"1-2-3", 0, 0, errNumberSyntax},
		{"0-5", 0, 0, errNumberZero},
		{"5-0", 0, 0, errNumberZero},
		{"1 -2", 0, 0, errNumberSyntax},
		{"1- 2", 0, 0, errNumberSyntax},
		{"+1-2", 0, 0, errNumberSyntax},
		{"1-9223372036854775808", 0, 0, errNumberTooLarge},
		{"", 0, 0, errNumberEmpty},
		{"1,2", 0, 0, errNumberSyntax},
	}
	for _, tt := range tests {
		first, last, err := ParseLines(tt.in)
		if first != tt.first || last != tt.last || !errors.Is(err, tt.err) {
			t.Errorf("ParseLines(%q) = %d, %d, %v; want %d, %d, %v", tt.in, first, last, err, tt.first, tt.last, tt.err)
		}
	}
}
