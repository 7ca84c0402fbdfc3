package command

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lined/lined/internal/lineindex"
	"golang.org/x/term"
)

// progressDelay is how long work runs before a progress bar appears, so that
// quick jobs print nothing but their summary.
const progressDelay = 300 * time.Millisecond

// progressEvery is how often the bar is drawn again.
const progressEvery = 100 * time.Millisecond

// progressWidth is the width of the bar itself, in cells.
const progressWidth = 30

// progress draws a byte progress bar on stderr, only when stderr is a
// terminal and the work has taken longer than progressDelay:
//
//	big.txt  42% [============                  ] 430.1 MiB of 1.0 GiB, 2.1 GiB/s, 1s left
//
// It is drawn in place (a carriage return, then erase to the end of the
// line), and erased when the work is done. It is written here rather than
// taken from a library: the one used before (schollz/progressbar) pulled
// net/http into getline and mkindex, whose initialisation made every run
// of them several milliseconds slower, more than a look-up takes.
type progress struct {
	w       io.Writer
	enabled bool
	label   string
	start   time.Time
	drawn   time.Time // when the bar was last drawn; zero if never
}

func newProgress(label string) *progress {
	return &progress{
		w:       os.Stderr,
		enabled: term.IsTerminal(int(os.Stderr.Fd())),
		label:   label,
		start:   time.Now(),
	}
}

// update is a lineindex.BuildOptions.Progress function; its calls do not
// overlap.
func (p *progress) update(done, total int64) {
	if !p.enabled {
		return
	}
	now := time.Now()
	elapsed := now.Sub(p.start)
	if elapsed < progressDelay || now.Sub(p.drawn) < progressEvery {
		return
	}
	p.drawn = now
	share := 1.0
	if total > 0 {
		share = min(float64(done)/float64(total), 1)
	}
	full := int(share * progressWidth)
	rate := float64(done) / elapsed.Seconds()
	left := ""
	if rate > 0 && done < total {
		left = ", " + time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second).String() + " left"
	}
	fmt.Fprintf(p.w, "\r%s %3.0f%% [%s%s] %s of %s, %s/s%s\x1b[K", p.label, 100*share,
		strings.Repeat("=", full), strings.Repeat(" ", progressWidth-full),
		lineindex.SizeString(done), lineindex.SizeString(total), lineindex.SizeString(int64(rate)), left)
}

// finish erases the bar, if one was drawn.
func (p *progress) finish() {
	if !p.drawn.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
