package lineindex

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes the index to path atomically: to a temporary file in the
// same directory, synced to disk, then renamed over path. On any failure the
// temporary file is removed and path is left as it was; the error names
// path (not the temporary file) and wraps the system's reason, such as
// syscall.ENOSPC.
func (ix *Index) WriteFile(path string) (err error) {
	defer func() {
		if err != nil {
			err = &writeError{path: path, err: err}
		}
	}()
	data, err := ix.MarshalBinary()
	if err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
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
	if err = os.Rename(tmp.Name(), path); err != nil {
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
	case errors.As(reason, &le):
		reason = le.Err
	}
	return e.path + ": " + reason.Error()
}

func (e *writeError) Unwrap() error { return e.err }
