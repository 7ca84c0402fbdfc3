package lineindex

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to new unless new exists (fs.ErrExist).
func renameNoReplace(old, new string) error {
	return renameat2(old, new, unix.RENAME_NOREPLACE)
}

// exchange swaps old and new, both of which must exist, in one step.
func exchange(old, new string) error {
	return renameat2(old, new, unix.RENAME_EXCHANGE)
}

// renameat2 reports a file system (or kernel) that does not support the
// flag as errors.ErrUnsupported.
func renameat2(old, new string, flags uint) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, flags)
	switch err {
	case nil:
		return nil
	case unix.EINVAL, unix.ENOSYS, unix.ENOTSUP:
		return errors.ErrUnsupported
	}
	return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
}
