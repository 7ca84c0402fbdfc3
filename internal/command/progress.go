package command

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressDelay is how long work runs before a progress bar appears, so that
// quick jobs print nothing but their summary.
const progressDelay = 300 * time.Millisecond

// progress draws a byte progress bar on stderr, only when stderr is a
// terminal and the work has taken longer than progressDelay.
type progress struct {
	w       io.Writer
	enabled bool
	label   string
	start   time.Time
	bar     *progressbar.ProgressBar
}

func newProgress(label string) *progress {
	return &progress{
		w:       os.Stderr,
		enabled: term.IsTerminal(int(os.Stderr.Fd())),
		label:   label,
		start:   time.Now(),
	}
}

// update is a lineindex.BuildOptions.Progress function.
func (p *progress) update(done, total int64) {
	if !p.enabled {
		return
	}
	if p.bar == nil {
		if time.Since(p.start) < progressDelay {
			return
		}
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.label),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Set64(done)
}

// finish clears the bar, if one was drawn.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}
