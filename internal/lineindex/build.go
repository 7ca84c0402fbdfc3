package lineindex

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// BuildOptions tune build. The zero value is ready to use.
type BuildOptions struct {
	// Spacing is the checkpoint spacing in bytes, a power of two from 512
	// to 1 MiB; 0 means defaultSpacing.
	Spacing int64
	// Progress, if set, is called from time to time with the number of
	// source bytes indexed so far. Calls may come from several goroutines,
	// but never at the same time.
	Progress func(done, total int64)
	// Settle is how long a file must have been left alone before it is
	// indexed (see Build); 0 means DefaultSettle, a negative value no wait.
	Settle time.Duration
	// Settling, if set, is called before build waits for the file to
	// settle, with the time it will wait.
	Settling func(wait time.Duration)

	// For tests: the number of goroutines reading the source (0:
	// GOMAXPROCS), and the unit of their work (0: taskLen). The index
	// depends on neither.
	readers int
	taskLen int64
	// For tests: text bytes between access points of a compressed source
	// (0: from accessEvery to accessMax, by the size of their windows),
	// and the largest zstd frame (0: maxZstdFrame).
	accessEvery int64
	maxFrame    int64
}

// DefaultSettle is the default of BuildOptions.Settle. Linux writes at
// most 2 GiB per write call, and such a write into the page cache takes
// a few tenths of a second: a write still running after a second is one
// slowed down by a disk that cannot keep up, which no waiting can bound.
const DefaultSettle = time.Second

// maxSettleWaits bounds how long Build waits for a file that keeps
// changing: this many settling times in all.
const maxSettleWaits = 10

// pieceLen is the size of the pieces a build reads, checksums and scans. The
// checksum brings a piece into the CPU's cache (2 MiB of L2 here), where the
// scan finds it: each byte comes from memory once. It divides segmentLen, so
// that a segment's CRC-32C is the update of its pieces'.
const pieceLen = 256 << 10

// taskLen is the unit of parallel work, a multiple of segmentLen (tests
// split small sources into many tasks with BuildOptions.taskLen). A file's tasks are
// mapped into memory one at a time per worker, and their pages count in the
// process's RSS: 4 MiB builds as fast as 16 MiB, with 24 MiB less RSS.
const taskLen = 4 * segmentLen

// errChanged reports a source that changed while it was being indexed.
var errChanged = errors.New("file changed while it was being indexed")

// build indexes the open file f, a regular file, from one version of it.
//
// A write that is still running when the build starts cannot be seen by
// comparing the file's status before and after the build: the kernel stamps
// the modification and status change times once, at the start of a write,
// so a build can start after the stamp, overtake the writer and count old
// bytes. So Build first waits until the file has been left alone for the
// settling time (see BuildOptions.Settle), by its status change time and by
// when Build first saw it; a write that began before then and is still
// running would have lasted longer than that. It fails with errChanged if
// the file does not settle within ten settling times, if its size, times or
// identity changed while it was read, or if the sampled blocks of the
// fingerprint, read again at the end, differ from those read at the start.
func build(ctx context.Context, f *os.File, opts BuildOptions) (*Index, error) {
	before, err := settled(ctx, f, opts)
	if err != nil {
		return nil, err
	}
	enc, err := encodingOf(f, before.size)
	if err != nil {
		return nil, err
	}
	var ix *Index
	if enc != plainSource {
		ix, err = buildCompressed(ctx, f, before.size, time.Unix(0, before.modTime), enc, opts)
	} else {
		ix, err = buildFrom(ctx, f, before.size, time.Unix(0, before.modTime), opts)
	}
	if err != nil {
		return nil, err
	}
	after, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if stampOf(after) != before {
		return nil, errChanged
	}
	if fp, err := fingerprint(f, before.size); err != nil {
		return nil, err
	} else if fp != ix.fingerprint {
		return nil, errChanged
	}
	ix.stamp = before
	return ix, nil
}

// settled waits until f has been left alone for the settling time and
// returns its stamp then.
func settled(ctx context.Context, f *os.File, opts BuildOptions) (stamp, error) {
	settle := cmp.Or(opts.Settle, DefaultSettle)
	deadline := time.Now().Add(maxSettleWaits * max(settle, 0))
	var seen stamp
	var seenAt time.Time
	for {
		fi, err := f.Stat()
		if err != nil {
			return stamp{}, err
		}
		if !fi.Mode().IsRegular() {
			return stamp{}, errors.New("not a regular file")
		}
		st, now := stampOf(fi), time.Now()
		if settle < 0 {
			return st, nil
		}
		if st != seen || seenAt.IsZero() {
			seen, seenAt = st, now
		}
		// The last change came no later than its status change time, nor
		// than when it was first seen here: the file's clock (a file
		// server's, say) may be ahead of this one.
		changed := seenAt
		if st.changeTime != 0 && st.changeTime < changed.UnixNano() {
			changed = time.Unix(0, st.changeTime)
		}
		wait := changed.Add(settle).Sub(now)
		if wait <= 0 {
			return st, nil
		}
		if now.Add(wait).After(deadline) {
			return stamp{}, fmt.Errorf("%w: it was not left alone for %v in %v", errChanged, settle, maxSettleWaits*settle)
		}
		if opts.Settling != nil {
			opts.Settling(wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return stamp{}, ctx.Err()
		case <-t.C:
		}
	}
}

// spacing returns the checkpoint spacing the options ask for.
func (opts BuildOptions) spacing() (int64, error) {
	spacing := cmp.Or(opts.Spacing, defaultSpacing)
	if !validSpacing(spacing) {
		return 0, fmt.Errorf("lineindex: checkpoint spacing %d is not a power of two from %d to %d", spacing, minSpacing, maxSpacing)
	}
	return spacing, nil
}

// buildFrom indexes the first size bytes of src, recording modTime as the
// source's modification time.
func buildFrom(ctx context.Context, src io.ReaderAt, size int64, modTime time.Time, opts BuildOptions) (*Index, error) {
	spacing, err := opts.spacing()
	if err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("lineindex: negative size %d", size)
	}
	fp, err := fingerprint(src, size)
	if err != nil {
		return nil, err
	}
	tlen := cmp.Or(opts.taskLen, taskLen)
	tasks := make([]task, (size+tlen-1)/tlen)
	segCRCs := make([]uint32, (size+segmentLen-1)/segmentLen)
	if err := runTasks(ctx, src, size, spacing, tlen, tasks, segCRCs, opts); err != nil {
		return nil, err
	}

	ix := &Index{meta: meta{spacing: spacing, stamp: stamp{size: size, modTime: modTime.UnixNano()}, text: size, fingerprint: fp}}
	ix.lines, ix.cps = assemble(tasks, size)
	ix.segs, ix.partial = segmentsChecksum(segCRCs, size)
	return ix, nil
}

// assemble returns the number of lines and the table of a text of size
// bytes from its tasks, in order.
func assemble(tasks []task, size int64) (lines int64, cps table) {
	var all []checkpoint
	var newlines int64 // in the tasks before the current one
	for _, t := range tasks {
		for _, c := range t.cps {
			if n := len(all); n > 0 && all[n-1].off == c.off {
				continue // a checkpoint that a long line carried into this task
			}
			all = append(all, checkpoint{line: newlines + c.line + 1, off: c.off})
		}
		newlines += t.newlines
	}
	lines = newlines
	if size > 0 && !tasks[len(tasks)-1].endsWithNewline {
		lines++
	}
	return lines, encodeTable(append(all, checkpoint{line: lines + 1, off: size}))
}

// segmentsChecksum returns the checksum of the complete segments' CRC-32C
// values among segCRCs, the CRC-32C values of the source's segments, and
// that of the last segment if it is shorter (see meta).
func segmentsChecksum(segCRCs []uint32, size int64) (segs, partial uint32) {
	if size%segmentLen != 0 {
		partial = segCRCs[len(segCRCs)-1]
		segCRCs = segCRCs[:len(segCRCs)-1]
	}
	b := make([]byte, 4*len(segCRCs))
	for i, c := range segCRCs {
		binary.LittleEndian.PutUint32(b[4*i:], c)
	}
	return crc32.Checksum(b, castagnoli), partial
}

// task is the indexing of source bytes [start, end).
type task struct {
	start, end int64
	// cps holds the checkpoints found in the task, with line set to the
	// number of newlines between start and the checkpoint.
	cps             []checkpoint
	newlines        int64 // in [start, end)
	endsWithNewline bool
}

func runTasks(ctx context.Context, src io.ReaderAt, size, spacing, taskLen int64, tasks []task, segCRCs []uint32, opts BuildOptions) error {
	workers := opts.readers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(tasks))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		next     atomic.Int64 // next task to take
		mu       sync.Mutex   // guards done, Progress calls and firstErr
		done     int64        // bytes indexed
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newPieceReader(src)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) || ctx.Err() != nil {
					return
				}
				t := &tasks[i]
				t.start, t.end = int64(i)*taskLen, min(int64(i+1)*taskLen, size)
				err := r.task(t.start, t.end, func() error {
					return t.run(ctx, r, size, spacing, segCRCs, func(n int64) {
						mu.Lock()
						done += n
						if opts.Progress != nil {
							opts.Progress(done, size)
						}
						mu.Unlock()
					})
				})
				if err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// run scans the task's bytes. The checkpoint of grid point g is the first
// line start at or after g, that is one past the first newline at or after
// g-1; so the task looks at byte start-1 for its first grid point.
func (t *task) run(ctx context.Context, r pieceReader, size, spacing int64, segCRCs []uint32, progress func(int64)) error {
	grid := t.start // next grid point whose checkpoint is unresolved
	if t.start == 0 {
		if size > 0 {
			t.cps = append(t.cps, checkpoint{line: 0, off: 0})
		}
		grid = spacing
	} else {
		b, err := r.read(t.start-1, 1)
		if err != nil {
			return err
		}
		if b[0] == '\n' {
			t.cps = append(t.cps, checkpoint{line: 0, off: t.start})
			grid = t.start + spacing
		}
	}
	for seg := t.start; seg < t.end; seg += segmentLen {
		if err := ctx.Err(); err != nil {
			return err
		}
		segEnd := min(seg+segmentLen, t.end)
		var crc uint32
		for off := seg; off < segEnd; off += pieceLen {
			piece, err := r.read(off, int(min(pieceLen, segEnd-off)))
			if err != nil {
				return err
			}
			crc = crc32.Update(crc, castagnoli, piece)
			grid = t.scan(piece, off, grid, size, spacing)
		}
		segCRCs[seg/segmentLen] = crc
		progress(segEnd - seg)
	}
	return nil
}

// scan counts the newlines of p, the source bytes at off, and records the
// checkpoints of the grid points from grid on that it resolves. It returns
// the next unresolved grid point.
func (t *task) scan(p []byte, off, grid, size, spacing int64) int64 {
	counted := 0 // p[:counted] is included in t.newlines
	for grid-1 < off+int64(len(p)) {
		from := max(grid-1-off, 0)
		i := bytes.IndexByte(p[from:], '\n')
		if i < 0 {
			break // the checkpoint lies in a later piece
		}
		nl := int(from) + i
		t.newlines += int64(bytes.Count(p[counted:nl+1], newline))
		counted = nl + 1
		start := off + int64(nl) + 1
		if start < size {
			t.cps = append(t.cps, checkpoint{line: t.newlines, off: start})
		}
		grid = (start/spacing + 1) * spacing
	}
	t.newlines += int64(bytes.Count(p[counted:], newline))
	t.endsWithNewline = p[len(p)-1] == '\n'
	return grid
}

var newline = []byte{'\n'}

// pieceReader gives the tasks of one build worker the source's bytes.
type pieceReader interface {
	// task runs fn, the scan of source bytes [start, end), which reads
	// them through read.
	task(start, end int64, fn func() error) error
	// read returns the n <= pieceLen source bytes at off, which lie in the
	// running task's range or are the byte just before it. They are valid
	// until the next call.
	read(off int64, n int) ([]byte, error)
}

// preadReader reads with ReadAt into a buffer of its own.
type preadReader struct {
	src io.ReaderAt
	buf []byte
}

func (r *preadReader) task(start, end int64, fn func() error) error { return fn() }

func (r *preadReader) read(off int64, n int) ([]byte, error) {
	if r.buf == nil {
		r.buf = make([]byte, pieceLen)
	}
	p := r.buf[:n]
	return p, readFull(r.src, p, off)
}

// readFull reads len(p) bytes at off, reporting a short source as errChanged.
func readFull(src io.ReaderAt, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return errChanged
	}
	return err
}
