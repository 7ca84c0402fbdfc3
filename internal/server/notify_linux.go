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
	// last is the file's size and times when a write to it was last
	// reported (or when it was first watched); rewrites counts the
	// reported writes that left it no larger (see sawWrite). Requests
	// read rewrites without n.mu.
	last     looked
	rewrites atomic.Uint64
}

// looked is what a stat of the file said of its size and times.
type looked struct {
	size         int64
	mtime, ctime unix.Timespec
}

func lookedOf(st *unix.Stat_t) looked { return looked{st.Size, st.Mtim, st.Ctim} }

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
// reports a write once it is done): if the file is no larger than at the
// last report, and its times moved, the write rewrote old bytes or cut the
// file. Appends only ever grow it; but a report may come late, after the
// next append has stamped the file and before it has copied a byte, so a
// size that stayed is given lineindex.AppendStarting to move: a rewrite
// followed by an append within that time is not seen here. n.mu is held.
func (n *notes) sawWrite() {
	var st unix.Stat_t
	if unix.Stat(n.s.path, &st) != nil || st.Dev != n.dev || st.Ino != n.ino {
		return // gone or replaced: the watcher sees that by itself
	}
	now := lookedOf(&st)
	for deadline := time.Now().Add(lineindex.AppendStarting); now.size == n.last.size && now != n.last && time.Now().Before(deadline); {
		time.Sleep(100 * time.Microsecond)
		if unix.Stat(n.s.path, &st) != nil || st.Dev != n.dev || st.Ino != n.ino {
			return
		}
		now = lookedOf(&st)
	}
	if now.size <= n.last.size && now != n.last {
		n.rewrites.Add(1)
		n.s.log.Debug("a write left the file no larger: rewritten in place or cut", "file", n.s.path, "size", now.size)
	}
	n.last = now
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
	seq, rewrites uint64
	valid         bool // the file was watched
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
		m = mark{seq: n.seq, rewrites: n.rewrites.Load(), valid: n.wd >= 0 && st.Dev == n.dev && st.Ino == n.ino}
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

// rewritten tells whether a write that left the file of m no larger was
// reported since m was taken (see sawWrite), by what the events read so
// far say: it reads none itself, for it is asked on every read of a grown
// file.
func (n *notes) rewritten(m mark) bool {
	return m.valid && n.rewrites.Load() != m.rewrites
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
