package lineindex

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Locations returns where the index of the source file src is kept, in the
// order they are tried: src+".idx" beside it, then a file in the user's cache
// directory (os.UserCacheDir()/lined/) named after src's absolute path. The
// second is left out when there is no cache directory. An index is saved to
// the first place where it can be written and replaces nothing but an index
// (see Load), so a directory that cannot be written, or a FILE.idx that is
// not an index, sends it to the cache.
//
// The policy lives here, beside the format, so that the three tools find
// each other's indexes; --index replaces the whole list.
func Locations(src string) []string {
	paths := []string{src + ".idx"}
	cache, err := os.UserCacheDir()
	if err != nil {
		return paths
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return paths
	}
	sum := sha256.Sum256([]byte(abs))
	name := filepath.Base(abs) + "-" + hex.EncodeToString(sum[:8]) + ".idx"
	return append(paths, filepath.Join(cache, "lined", name))
}

// ErrNoIndex reports that none of the places tried holds an index (a file
// there that is not an index does not count).
var ErrNoIndex = errors.New("no index")

// open returns the first index among paths that is intact and describes f
// as it is now, and the path it came from. If there is none, the error says
// why the first index found was refused (a *corruptError, a *staleError or
// an I/O error), or is ErrNoIndex.
func open(f *os.File, paths []string) (*Index, string, error) {
	ix, path, _, _, err := find(f, paths)
	return ix, path, err
}

// find returns the first index among paths that is intact and describes f
// as it is now, its path, and whether it was restamped (see
// Index.validate); else, as open does, why there is none, and the first
// intact index of f as it was before it grew, if there is one (see
// Index.grown), to extend.
func find(f *os.File, paths []string) (ix *Index, path string, restamped bool, grown *Index, err error) {
	var refused error
	now := stamp{}
	if fi, err := f.Stat(); err == nil {
		now = stampOf(fi)
	}
	for _, p := range paths {
		ix, err := readFile(p)
		if err == nil {
			var restamped bool
			if restamped, err = ix.validate(f); err == nil {
				if grown != nil {
					grown.Close()
				}
				return ix, p, restamped, nil, nil
			}
			if grown == nil && !ix.grown(now) {
				// An append may have stamped the file and not moved
				// its size yet.
				if st, err := fstatGrowing(f, int(f.Fd()), ix.stamp); err == nil {
					now = st
				}
			}
			if grown == nil && ix.grown(now) {
				grown = ix
			} else {
				ix.Close()
			}
		}
		if refused == nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) && err != errNotIndex {
			refused = fmt.Errorf("%s: %w", p, err)
		}
	}
	if refused == nil {
		refused = ErrNoIndex
	}
	return nil, "", false, grown, refused
}

// save writes ix, the index of src, to the first of paths where it can be
// written, creating the cache directory if needed, and returns that path
// and why the places before it were passed over (nil if none was). If it
// can be written nowhere, err says why for each place.
func save(ix *Index, paths []string, src fs.FileInfo) (path string, passed, err error) {
	var errs []error
	for i, p := range paths {
		if i > 0 {
			// Only the fallback directory is ours to create.
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		err := ix.writeFile(p, src)
		if err == nil {
			return p, errors.Join(errs...), nil
		}
		errs = append(errs, err)
	}
	return "", nil, errors.Join(errs...)
}

// Save writes ix, the index of the open file src, to the first of paths
// where it can be written (as Load does) and returns it as read back from
// there, where its body is mapped rather than held in memory, and that
// path; or ix itself, with the reasons it could be saved nowhere. ix is
// still the caller's to close.
func (ix *Index) Save(paths []string, src *os.File) (*Index, string, error) {
	fi, err := src.Stat()
	if err != nil {
		return ix, "", err
	}
	path, _, err := save(ix, paths, fi)
	if err != nil {
		return ix, "", err
	}
	saved, err := ix.reopen(path)
	if err != nil {
		return ix, path, nil // saved, but not read back: serve it as it is
	}
	return saved, path, nil
}

// LoadOptions tune [Load].
type LoadOptions struct {
	// Paths are where the index is looked for and saved, in this order
	// (see Locations).
	Paths []string
	// Rebuild, if not nil, says why no saved index may be used: the file
	// is indexed anew (mkindex --force, or a server that found a line that
	// did not match).
	Rebuild error
	// NoSave keeps a new index in memory only.
	NoSave bool
	Build  BuildOptions
	// OnBuild, if set, is called before the file is indexed, with the
	// reason it is (ErrNoIndex: none was found).
	OnBuild func(reason error)
}

// Loaded is the result of [Load].
type Loaded struct {
	Index *Index // Close it when done
	// Path is the file the index was read from or saved to; empty if it
	// was not saved and lives in memory only.
	Path string
	// Built tells whether the file was indexed now, in full or, if
	// Extended, only what was appended to it since an index of it was
	// saved (which had ExtendedFrom lines). If so, Reason says why a saved
	// index would not do, Took how long it took (waiting for the file to
	// settle included), Passed why the places before Path were passed
	// over, and SaveErr why it could not be saved anywhere, if it could not.
	Built    bool
	Extended bool
	// Restamped tells that only the file's status had changed since the
	// index was saved (chmod, chown, a link, a rename): the index was
	// used after a fingerprint check, and saved again with the new status
	// change time, if it could be.
	Restamped    bool
	ExtendedFrom int64
	Reason       error
	Took         time.Duration
	Passed       error
	SaveErr      error
}

// Load returns an index for f that is known to describe it: the first valid
// one among the paths, or else a new one, saved to the first of the paths
// where it can be written, and read back from there, where its body is
// mapped rather than held in memory (see Index.reopen). A new index
// extends the saved index of the file if the file has only grown since
// (see Index.extend); otherwise it is built from the whole file. This is
// how every tool gets its index. Failing to save is not an error: the
// index is still returned, with SaveErr set.
func Load(ctx context.Context, f *os.File, opts LoadOptions) (Loaded, error) {
	reason := opts.Rebuild
	var l Loaded
	if reason == nil {
		ix, path, restamped, grown, err := find(f, opts.Paths)
		if err == nil {
			if restamped && !opts.NoSave {
				// Saved with the new time, the index is trusted next
				// time without reading the file. If it cannot be, it
				// is checked again, as now: nothing to report.
				if fi, err := f.Stat(); err == nil {
					_ = ix.writeFile(path, fi)
				}
			}
			return Loaded{Index: ix, Path: path, Restamped: restamped}, nil
		}
		reason = err
		if grown != nil {
			// The file only grew since an index was saved: index what was
			// appended, unless it turns out to have changed otherwise.
			start := time.Now()
			x, err := grown.extend(ctx, f, opts.Build)
			from := grown.lines
			grown.Close()
			switch {
			case err == nil:
				l = Loaded{Index: x, Built: true, Extended: true, ExtendedFrom: from, Reason: reason, Took: time.Since(start)}
			case errors.Is(err, errNotGrown) || errors.Is(err, errChanged):
				reason = fmt.Errorf("%w; %v", reason, err)
			default:
				return Loaded{}, err
			}
		}
	}
	if l.Index == nil {
		if opts.OnBuild != nil {
			opts.OnBuild(reason)
		}
		start := time.Now()
		ix, err := build(ctx, f, opts.Build)
		if err != nil {
			return Loaded{}, err
		}
		l = Loaded{Index: ix, Built: true, Reason: reason, Took: time.Since(start)}
	}
	if opts.NoSave {
		return l, nil
	}
	src, err := f.Stat()
	if err != nil {
		l.SaveErr = err
		return l, nil
	}
	l.Path, l.Passed, l.SaveErr = save(l.Index, opts.Paths, src)
	if l.SaveErr == nil {
		if saved, err := l.Index.reopen(l.Path); err == nil {
			l.Index.Close()
			l.Index = saved
		}
	}
	return l, nil
}
