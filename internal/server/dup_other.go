//go:build !unix

package server

import (
	"errors"
	"os"
)

// dupFile is not available here: a deleted file whose status changed is
// indexed again through its path only.
func dupFile(*os.File) (*os.File, error) {
	return nil, errors.New("cannot duplicate a file descriptor here")
}
