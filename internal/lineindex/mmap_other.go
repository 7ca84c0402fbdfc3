//go:build !unix

package lineindex

import (
	"errors"
	"os"
)

// mmap is not available here: ReadFile reads the body into memory instead.
func mmap(*os.File, int64, int) ([]byte, error) { return nil, errors.ErrUnsupported }

func munmap([]byte) error { return nil }
