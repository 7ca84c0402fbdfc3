package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/lined/lined/internal/lineindex"
	"golang.org/x/sys/unix"
)

// notes are what the kernel says of the file through inotify. They wake
// the watcher when the file changes, so that appended lines are served
// within milliseconds rather than at the next periodic check: inotify
// watches the file (writes, attributes, its removal) and its directory (the
// name created, moved or removed, for a file replaced under it). And they
// tell a change of the file's status alone (chmod, a link, a rename) from a
// rewrite that put its times back, which the file's stat cannot: the
// second comes with writes, which inotify reports. Where inotify cannot
// watch (another system, too many watches, a network file system that does
// not report others' writes), the periodic check is all there is, and
// every status change is taken for a change.
type notes struct {
	s    *file
	rc   syscall.RawConn // the inotify instance; nil if there is none
	name string          // the file's name in its directory

	mu  sync.Mutex // reading the events and what they say: whoever reads them counts them
	buf []byte
	// wd is the watch of the file, on the file identified by dev and ino;
	// -1 if there is none.
	wd       int32
	dev, ino uint64
	// seq moves whenever the file may have been written to without a
	// mark's knowing: a write or truncation reported, events lost, the
	// watch gone or moved to another file.
	seq uint64
	// last is the file's size and modification time when a write to it
	// was last reported (or when it was first watched); settling, that
	// settle is deciding what a write did.
	last     looked
	settling bool
	// rewrites counts the reported writes that left the file no larger
	// (see sawWrite), rewrote is the latest one's modification time (Unix
	// nanoseconds), and epoch counts the files watched, so that a mark
	// counts only its own file's. Requests read them without n.mu.
	rewrites, epoch atomic.Uint64
	rewrote         atomic.Int64
}

// looked is what a stat of the file said of its size and modification time.
type looked struct {
	size  int64
	mtime unix.Timespec
}

func lookedOf(st *unix.Stat_t) looked { return looked{st.Size, st.Mtim} }

// settleFor bounds how long settle watches a write that left the file's
// size as it was: one that has not grown it by then never will.
const settleFor = time.Second

const (
	fileEvents = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF
	dirEvents  = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE
)

// startNotes sets the watches up, and reads their events until ctx ends.
func (s *file) startNotes(ctx context.Context) *notes {
	n := &notes{s: s, wd: -1}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		s.log.Debug("no file notifications; checking every interval", "err", err)
		return n
	}
	dir, name := filepath.Split(s.path)
	if dir == "" {
		dir = "."
	}
	n.name = name
	// Room for 16 events with the longest names; a busy directory's
	// events take more rounds, not more memory in each of many files.
	n.buf = make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	n.watchFile(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, dirEvents); err != nil {
		s.log.Debug("cannot watch the file's directory", "dir", dir, "err", err)
	}
	// Non-blocking, so that Go's poller waits for it and Close ends a Read.
	// Every use of the descriptor goes through rc, which holds it open.
	f := os.NewFile(uintptr(fd), "inotify")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return &notes{s: s, wd: -1}
	}
	n.rc = rc
	go func() {
		<-ctx.Done()
		f.Close() // not under n.mu: it waits for rc's users to finish
	}()
	go rc.Read(func(fd uintptr) bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.readEvents(int(fd))
		return false // wait for more, until closed
	})
	return n
}

// now runs f with the events queued read and handled, under n.mu; it
// returns false if there is no inotify instance (any more).
func (n *notes) now(f func()) bool {
	if n == nil || n.rc == nil {
		return false
	}
	return n.rc.Control(func(fd uintptr) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.readEvents(int(fd))
		f()
	}) == nil
}

// watchFile watches the file the path names now; a new file at the path
// gets a watch of its own, and the old one's goes when it is gone. n.mu is
// held.
func (n *notes) watchFile(fd int) {
	n.seq++
	n.epoch.Add(1)
	n.wd = -1
	wd, err := unix.InotifyAddWatch(fd, n.s.path, fileEvents)
	if err != nil {
		n.s.log.Debug("cannot watch the file; checking every interval", "file", n.s.path, "err", err)
		return
	}
	// The file watched is the one the path names after the watch was
	// added, if it names the same one before and after the stat.
	var st unix.Stat_t
	if unix.Stat(n.s.path, &st) != nil {
		return
	}
	again, err := unix.InotifyAddWatch(fd, n.s.path, fileEvents)
	if err != nil || again != wd {
		return
	}
	n.wd, n.dev, n.ino, n.last = int32(wd), st.Dev, st.Ino, lookedOf(&st)
}

// sawWrite looks at the file after a write to it was reported (the kernel
// reports a write once it is done). Appends only ever grow the file: one
// that left it smaller cut it; one that left it as large, its modification
// time moved, either rewrote old bytes or is an append whose report came
// late, after the next append had stamped the file and before it had
// copied a byte, which settle tells apart. n.mu is held.
func (n *notes) sawWrite() {
	now, ok := n.look(n.dev, n.ino)
	if !ok {
		return
	}
	switch {
	case now.size < n.last.size:
		n.countRewrite("cut", now)
	case now.size == n.last.size && now.mtime != n.last.mtime && !n.settling:
		n.settling = true
		go n.settle(now, n.dev, n.ino, n.epoch.Load())
	}
	n.last = now
}

// look stats the file at the path, if it is still the file dev and ino
// name: gone or replaced, the watcher sees that by itself.
func (n *notes) look(dev, ino uint64) (looked, bool) {
	var st unix.Stat_t
	if unix.Stat(n.s.path, &st) != nil || st.Dev != dev || st.Ino != ino {
		return looked{}, false
	}
	return lookedOf(&st), true
}

// settle decides, without holding n.mu, what a write that left the file
// at was's size did. If the size moves within lineindex.AppendStarting, an
// append had stamped the file (the same wait as a Source's): a rewrite
// followed that soon by an append is not told from it. Later, writes to a
// file take turns, and a write stamps the file before it copies: if the
// size moves with the modification time as it was, the write that stamped
// it was that append, held up; if the time moves first, or with the size,
// that write was done without growing the file, a rewrite. (An append held
// up that long whose successor stamps the file before this looks again is
// taken for a rewrite: an index built anew, never a wrong line.) A write
// that grows nothing within settleFor was a rewrite too.
func (n *notes) settle(was looked, dev, ino, epoch uint64) {
	start := time.Now()
	rewrite := true
	for time.Since(start) < settleFor {
		pause := 100 * time.Microsecond
		if time.Since(start) >= lineindex.AppendStarting {
			pause = time.Millisecond
		}
		time.Sleep(pause)
		now, ok := n.look(dev, ino)
		if !ok {
			rewrite = false
			break
		}
		if now.size != was.size && (now.mtime == was.mtime || time.Since(start) < lineindex.AppendStarting) {
			rewrite = false
			break
		}
		if now != was {
			break
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.settling = false
	if rewrite && n.epoch.Load() == epoch {
		n.countRewrite("rewritten in place", was)
		n.s.poke()
	}
}

// countRewrite counts a write that left the file no larger, seen as w.
// n.mu is held.
func (n *notes) countRewrite(how string, w looked) {
	if t := w.mtime.Nano(); t > n.rewrote.Load() {
		n.rewrote.Store(t)
	}
	n.rewrites.Add(1)
	n.s.log.Debug("a write left the file no larger", "file", n.s.path, "how", how)
}

// readEvents reads and handles the events queued on fd. n.mu is held.
func (n *notes) readEvents(fd int) {
	for {
		k, err := unix.Read(fd, n.buf)
		if err != nil || k <= 0 {
			if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
				n.wd = -1 // closed, or broken: no more notes
			}
			return
		}
		poke, rewatch := false, false
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&n.buf[off]))
			nameBytes := n.buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			switch {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0:
				n.seq++
				poke = true
			case ev.Len == 0: // a file watched: the file, or the one before
				if ev.Wd == n.wd && ev.Mask&(unix.IN_MODIFY|unix.IN_IGNORED) != 0 {
					n.seq++
				}
				if ev.Wd == n.wd && ev.Mask&unix.IN_MODIFY != 0 {
					n.sawWrite()
				}
				if ev.Wd == n.wd && ev.Mask&unix.IN_IGNORED != 0 {
					n.wd = -1
				}
				poke = true
			case cString(nameBytes) == n.name: // its name in the directory
				poke = true
				rewatch = rewatch || ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0
			}
		}
		if rewatch {
			n.watchFile(fd)
		}
		if poke {
			n.s.poke()
		}
	}
}

// mark is where the notes of a file stood: see unwritten and rewritten.
type mark struct {
	seq, rewrites, epoch uint64
	valid                bool // the file was watched
}

// mark returns where the notes of f stand now: take it before f's stat is
// read for an index, so that any write after that stat comes after it.
func (n *notes) mark(f *os.File) (m mark) {
	fi, err := f.Stat()
	if err != nil {
		return mark{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return mark{}
	}
	n.now(func() {
		m = mark{seq: n.seq, rewrites: n.rewrites.Load(), epoch: n.epoch.Load(), valid: n.wd >= 0 && st.Dev == n.dev && st.Ino == n.ino}
	})
	return m
}

// unwritten tells whether the file of m is known not to have been written
// to since m was taken: it was watched throughout, and no write or
// truncation of it was reported, counting those queued now.
func (n *notes) unwritten(m mark) bool {
	ok := false
	return m.valid && n.now(func() { ok = n.seq == m.seq && n.wd >= 0 }) && ok
}

// rewritten tells whether a write that left the file of m no larger, and
// modified it after whole (Unix nanoseconds), was reported since m was
// taken (see sawWrite), by what the events read so far say: it reads none
// itself, for every read of the file asks it. A write settled late, after
// a build that read it, is not one. Once another file is watched at the
// path, it no longer knows.
func (n *notes) rewritten(m mark, whole int64) bool {
	return m.valid && n.epoch.Load() == m.epoch && n.rewrites.Load() != m.rewrites && n.rewrote.Load() > whole
}

// cString is b up to its first NUL (inotify pads names with NULs).
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
