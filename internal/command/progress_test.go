package command

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressOnlyOnTerminalAfterDelay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		elapsed  time.Duration
		want     bool
	}{
		{"not a terminal", false, time.Second, false},
		{"terminal, quick job", true, 0, false},
		{"terminal, slow job", true, time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := &progress{w: &out, enabled: tc.terminal, label: "big.txt", start: time.Now().Add(-tc.elapsed)}
			p.update(512<<20, 1<<30)
			drawn := strings.Contains(out.String(), "big.txt") && strings.Contains(out.String(), "50%")
			if drawn != tc.want {
				t.Fatalf("bar drawn = %v, want %v; output %q", drawn, tc.want, out.String())
			}
			// Drawn again only after progressEvery.
			before := out.Len()
			p.update(600<<20, 1<<30)
			if out.Len() != before {
				t.Fatalf("drawn again at once: %q", out.String()[before:])
			}
			p.finish()
			if !tc.want && out.Len() != 0 {
				t.Fatalf("wrote %q, want nothing", out.String())
			}
			if tc.want && !strings.HasSuffix(out.String(), "\r\x1b[K") {
				t.Fatalf("the bar was not erased: %q", out.String())
			}
		})
	}
}
