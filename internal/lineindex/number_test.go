package lineindex

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestParseLineNumber(t *testing.T) {
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

		{"", 0, ErrNumberEmpty},

		{"0", 0, ErrNumberZero},
		{"00", 0, ErrNumberZero},
		{"0000000000000000000000000", 0, ErrNumberZero},

		{"9223372036854775808", 0, ErrNumberTooLarge},
		{"9223372036854775810", 0, ErrNumberTooLarge},
		{"18446744073709551616", 0, ErrNumberTooLarge},
		{"99999999999999999999999", 0, ErrNumberTooLarge},
		{"92233720368547758070", 0, ErrNumberTooLarge},

		{"-1", 0, ErrNumberSyntax},
		{"-0", 0, ErrNumberSyntax},
		{"+1", 0, ErrNumberSyntax},
		{" 1", 0, ErrNumberSyntax},
		{"1 ", 0, ErrNumberSyntax},
		{"1\n", 0, ErrNumberSyntax},
		{"\t1", 0, ErrNumberSyntax},
		{"1.5", 0, ErrNumberSyntax},
		{"1.", 0, ErrNumberSyntax},
		{"1,000", 0, ErrNumberSyntax},
		{"1_000", 0, ErrNumberSyntax},
		{"abc", 0, ErrNumberSyntax},
		{"1e3", 0, ErrNumberSyntax},
		{"0x10", 0, ErrNumberSyntax},
		{"0b1", 0, ErrNumberSyntax},
		{"0o7", 0, ErrNumberSyntax},
		{"١", 0, ErrNumberSyntax},  // ARABIC-INDIC DIGIT ONE
		{"１", 0, ErrNumberSyntax},  // FULLWIDTH DIGIT ONE
		{"1١", 0, ErrNumberSyntax}, // an ASCII digit, then another
		{"\x00", 0, ErrNumberSyntax},
		{"1\x00", 0, ErrNumberSyntax},
		{"\xff", 0, ErrNumberSyntax},
		{" ", 0, ErrNumberSyntax},
		// A syntax error is reported even past an overflow.
		{"99999999999999999999999x", 0, ErrNumberSyntax},
	}
	for _, tt := range tests {
		got, err := ParseLineNumber(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseLineNumber(%q) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseLineNumberErrorsDiffer(t *testing.T) {
	errs := []error{ErrNumberEmpty, ErrNumberSyntax, ErrNumberZero, ErrNumberTooLarge}
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
		return 0, ErrNumberEmpty
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrNumberSyntax
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, ErrNumberTooLarge
	case err != nil:
		return 0, ErrNumberSyntax
	case n < 1:
		return 0, ErrNumberZero
	}
	return n, nil
}

func TestParseLineNumberEveryValueNearLimits(t *testing.T) {
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
