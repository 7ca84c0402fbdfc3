package server

import (
	"os"
	"strings"
	"testing"

	"github.com/lined/lined/internal/testkit"
)

// check decides, without changing anything, what the watcher must do.
func TestCheckDecides(t *testing.T) {
	t.Parallel()
	fresh := func() (*generation, string) {
		s := loadedServer(t, []byte("a\nb\n"))
		return s.files[0].cur.Load(), s.files[0].path
	}
	g, file := fresh()
	if d := check(nil, file); d.reason == "" || d.stale {
		t.Errorf("nothing loaded: %+v, want a reason to load", d)
	}
	if d := check(g, file); d != (decision{}) {
		t.Errorf("unchanged: %+v, want nothing to do", d)
	}

	// A line that did not match: the file is read anew, whatever its
	// status says.
	g.stale.Store(true)
	if d := check(g, file); d.how != fromPathAnew || d.reason == "" {
		t.Errorf("mismatch seen: %+v, want the file indexed anew", d)
	}
	// The index file changed in place: a saved index may still do.
	g, file = fresh()
	g.stale.Store(true)
	g.indexChanged.Store(true)
	if d := check(g, file); d.how != fromPath || d.reason != "the index file was changed in place" {
		t.Errorf("index changed: %+v, want a saved index looked for", d)
	}

	// Appended to: not stale, the index extended.
	g, file = fresh()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("c\n")
	f.Close()
	if d := check(g, file); d.stale || d.how != extendIndex || d.reason == "" {
		t.Errorf("appended: %+v, want the index extended", d)
	}

	// Rewritten and longer: stale, read again through the path.
	g, file = fresh()
	if err := os.WriteFile(file, []byte("A\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := check(g, file); !d.stale || d.how != fromPath || d.reason == "" {
		t.Errorf("rewritten: %+v", d)
	}
	if g.stale.Load() {
		t.Error("check marked the generation stale itself")
	}

	// Appended to after a write that left it no larger was reported:
	// stale, and indexed anew, for a saved index would pass for one of
	// a file that only grew.
	g, file = fresh()
	g.src.Rewritten = func() bool { return true }
	f, err = os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("c\n")
	f.Close()
	if d := check(g, file); !d.stale || d.how != fromPathAnew || d.reason == "" {
		t.Errorf("rewritten, then appended to: %+v, want the file indexed anew", d)
	}

	// A compressed file rewritten in place, its size and modification
	// time kept (here a byte of the gzip header's own time): its saved
	// index cannot tell, so it is read again, whole. Its size is the
	// compressed one, not its text's.
	s := loadedServer(t, gzipOf(t, []byte(strings.Repeat("a line of text\n", 1000))))
	g, file = s.files[0].cur.Load(), s.files[0].path
	testkit.ChangeKeepingTime(t, file, 5, 0x5a)
	if d := check(g, file); !d.stale || d.how != fromPathAnew || d.reason == "" {
		t.Errorf("compressed, rewritten keeping its size and time: %+v, want the file indexed anew", d)
	}

	// Deleted: its status changed too (one link less), so it is indexed
	// again through the descriptor still open.
	g, file = fresh()
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if d := check(g, file); !d.stale || d.how != fromOpenAgain {
		t.Errorf("deleted: %+v, want the open file indexed again", d)
	}
}
