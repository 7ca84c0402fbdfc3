package lineindex

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// errLeftAlone marks a place for an index that holds something an index
// must never replace.
var errLeftAlone = errors.New("left alone")

// leftAlone is a refusal to replace a file that is not an index, or is
// the source itself.
type leftAlone string

func (e leftAlone) Error() string        { return string(e) + "; left alone" }
func (e leftAlone) Is(target error) bool { return target == errLeftAlone }

// writeFile writes the index to path atomically: to a temporary file in the
// same directory, synced to disk, then renamed over path. It only ever
// replaces an index (a regular file that starts with the index magic) and
// never src, the file indexed (nil if none), whatever path leads to it:
// anything else at path is left alone and the write refused. A symbolic
// link at path is followed: the file it names is what is replaced.
//
// The check and the rename are not one step, so on Linux the new index is
// swapped with what is at path in one rename (RENAME_EXCHANGE), which is
// then checked again and swapped back if it is not an index: a file put
// there in between is never lost. Where path does not exist, the rename
// fails rather than replace a file created meanwhile (RENAME_NOREPLACE).
//
// On any failure the temporary file is removed and path is left as it was;
// the error names path (not the temporary file) and wraps the reason, such
// as syscall.ENOSPC.
func (ix *Index) writeFile(path string, src fs.FileInfo) (err error) {
	defer func() {
		if err != nil {
			err = &writeError{path: path, err: err}
		}
	}()
	h, err := ix.header()
	if err != nil {
		return err
	}
	target, err := followLink(path)
	if err != nil {
		return err
	}
	exists, err := replaceable(target, src)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	keep := false // tmp holds what was at target: never remove it
	defer func() {
		if err != nil && !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(h[:]); err != nil {
		return err
	}
	if err = ix.eachBodyPiece(make([]byte, writeBuffer), func(p []byte) error {
		_, err := tmp.Write(p)
		return err
	}); err != nil {
		return err
	}
	if ix.access != nil {
		if _, err = tmp.Write(ix.access.enc); err != nil {
			return err
		}
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if keep, err = install(tmp.Name(), target, exists, src); err != nil {
		return err
	}
	// Make the rename itself durable. Some file systems cannot sync a
	// directory; the index is in place either way.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// install moves the index written at tmp to target, which existed (and
// was an index) or not when it was checked. If it fails and keep is true,
// tmp holds the file that was at target, which could not be put back.
func install(tmp, target string, exists bool, src fs.FileInfo) (keep bool, err error) {
	if !exists {
		err := renameNoReplace(tmp, target)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, errors.ErrUnsupported):
			return false, os.Rename(tmp, target)
		case !errors.Is(err, fs.ErrExist):
			return false, err
		}
		// Created meanwhile: replace it only if it is an index.
	}
	err = exchange(tmp, target)
	if errors.Is(err, errors.ErrUnsupported) {
		if _, err := replaceable(target, src); err != nil {
			return false, err
		}
		return false, os.Rename(tmp, target)
	}
	if err != nil {
		return false, err
	}
	// tmp now holds what was at target.
	if _, err := replaceable(tmp, src); err != nil {
		if xerr := exchange(tmp, target); xerr != nil {
			return true, errors.Join(err, &os.LinkError{Op: "putting it back from", Old: tmp, New: target, Err: xerr})
		}
		return false, err
	}
	os.Remove(tmp) // the old index
	return false, nil
}

// followLink returns the file path names: path itself, or, if path is a
// symbolic link, the file the link leads to, which must exist.
func followLink(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return path, nil // not a link; replaceable says what else it is
	}
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", leftAlone("a symbolic link to a file that does not exist")
	}
	return target, err
}

// replaceable tells whether an index may be written at path: nothing is
// there (exists is false), or an index that is not src. Otherwise it says
// why not.
func replaceable(path string, src fs.FileInfo) (exists bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return true, leftAlone("not a regular file")
	}
	if src != nil && os.SameFile(fi, src) {
		return true, leftAlone("it is the file being indexed")
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return true, err
	}
	defer f.Close()
	if ofi, err := f.Stat(); err != nil {
		return true, err
	} else if !ofi.Mode().IsRegular() || (src != nil && os.SameFile(ofi, src)) {
		return true, leftAlone("not a regular file other than the one indexed")
	}
	var m [len(magic)]byte
	if _, err := io.ReadFull(f, m[:]); err != nil || string(m[:]) != magic {
		return true, leftAlone("not an index")
	}
	return true, nil
}

// writeError reports a failure to write the index at path: the reason,
// without the name of the temporary file it happened to.
type writeError struct {
	path string
	err  error
}

func (e *writeError) Error() string {
	reason := e.err
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(reason, &pe):
		reason = pe.Err
	case errors.As(reason, &le) && le.Op == "rename":
		reason = le.Err
	}
	return e.path + ": " + reason.Error()
}

func (e *writeError) Unwrap() error { return e.err }
