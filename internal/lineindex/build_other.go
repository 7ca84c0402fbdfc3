//go:build !unix

package lineindex

import "io"

// newPieceReader reads src with ReadAt: mapping files is for unix systems.
func newPieceReader(src io.ReaderAt) pieceReader { return &preadReader{src: src} }
