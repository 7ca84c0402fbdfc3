package lineindex

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// fingerprint hashes sampled blocks of the first size bytes of src, as the
// package documentation describes. It reads at most sampleCount*sampleLen
// bytes, whatever the size.
func fingerprint(src io.ReaderAt, size int64) ([32]byte, error) {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(size))
	h.Write(b[:])
	buf := make([]byte, sampleCount*sampleLen)
	sample := func(off int64, p []byte) error {
		if err := readFull(src, p, off); err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(b[:], uint64(off))
		h.Write(b[:])
		h.Write(p)
		return nil
	}
	if size <= int64(len(buf)) {
		if err := sample(0, buf[:size]); err != nil {
			return [32]byte{}, err
		}
	} else {
		last := size - sampleLen
		for i := range int64(sampleCount) {
			if err := sample(last*i/(sampleCount-1), buf[:sampleLen]); err != nil {
				return [32]byte{}, err
			}
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}
