package lineindex

import "hash/crc32"

// writeBuffer is the size of the pieces an index body is written in, copied
// and checked from a mapping: large enough for few writes, small enough that
// no copy of a large body is ever made to write it.
const writeBuffer = 64 << 10

// root returns the index that holds the first checkpoints of ix's table:
// its base, or ix itself.
func (ix *Index) root() *Index {
	if ix.base != nil {
		return ix.base
	}
	return ix
}

// bodyLen returns the length of the encoded table.
func (ix *Index) bodyLen() int64 {
	if ix.base != nil {
		return int64(ix.prefix)*entryLen + int64(len(ix.cps))
	}
	return int64(len(ix.cps))
}

// eachBodyPiece calls fn with the encoded table, in order, in pieces: the
// parts in the heap as they are, and those in a mapping copied to buf (a
// multiple of sumLen bytes long) and checked against the sums taken when
// it was read. fn must not keep or change a piece.
func (ix *Index) eachBodyPiece(buf []byte, fn func(piece []byte) error) error {
	root, n := ix, len(ix.cps)
	if ix.base != nil {
		root, n = ix.base, ix.prefix*entryLen
	}
	if err := root.ownPieces(n, buf, fn); err != nil {
		return err
	}
	if ix.base != nil {
		return fn(ix.cps)
	}
	return nil
}

// ownPieces is eachBodyPiece for the first n bytes of ix's own table.
func (ix *Index) ownPieces(n int, buf []byte, fn func(piece []byte) error) error {
	if ix.m == nil {
		return fn(ix.cps[:n])
	}
	if len(buf) < sumLen || len(buf)%sumLen != 0 {
		panic("lineindex: body buffer is not a whole number of chunks")
	}
	for off := 0; off < n; off += len(buf) {
		var k int
		if err := ix.guard(func() error {
			k = copy(buf, ix.cps[off:])
			return nil
		}); err != nil {
			return err
		}
		for c := 0; c < k; c += sumLen {
			if crc32.Checksum(buf[c:min(c+sumLen, k)], castagnoli) != ix.sums[(off+c)/sumLen] {
				return ErrIndexChanged
			}
		}
		if err := fn(buf[:min(k, n-off)]); err != nil {
			return err
		}
	}
	return nil
}

// copyBody copies the encoded table to dst, which is bodyLen() long.
func (ix *Index) copyBody(dst []byte) error {
	at := 0
	return ix.eachBodyPiece(make([]byte, sumLen), func(p []byte) error {
		at += copy(dst[at:], p)
		return nil
	})
}

// bodySum returns the CRC-32C of the encoded table.
func (ix *Index) bodySum() (uint32, error) {
	crc := uint32(0)
	err := ix.eachBodyPiece(make([]byte, writeBuffer), func(p []byte) error {
		crc = crc32.Update(crc, castagnoli, p)
		return nil
	})
	return crc, err
}

// sameBody tells whether ix and o have the same table, as far as the
// CRC-32C of the whole can tell: one that differs in a few bits, or by a
// burst of up to 32, always differs in it.
func (ix *Index) sameBody(o *Index) bool {
	if ix.bodyLen() != o.bodyLen() {
		return false
	}
	a, aerr := ix.bodySum()
	b, berr := o.bodySum()
	return aerr == nil && berr == nil && a == b
}

// around returns the last checkpoint at or before line n (1 <= n <=
// ix.lines) and the one after it; scratch is at least sumLen bytes.
func (ix *Index) around(n int64, scratch []byte) (cp, next checkpoint, err error) {
	if ix.base == nil {
		return ix.among(n, ix.cps.len(), checkpoint{}, scratch)
	}
	if n >= ix.cps.line(0) {
		cp, next = ix.cps.block(n)
		return cp, next, nil
	}
	return ix.base.among(n, ix.prefix, ix.cps.at(0), scratch)
}

// among is around for the first k checkpoints of ix's own table, which
// after follows if k is less than all of them. A mapped table may have been
// overwritten since it was checked: the two checkpoints are read from a copy
// of their chunks in scratch, which is verified against the chunks' sums;
// that they bracket n then proves them right, even if damage elsewhere
// misled the search.
func (ix *Index) among(n int64, k int, after checkpoint, scratch []byte) (cp, next checkpoint, err error) {
	if ix.m == nil {
		i := ix.cps.search(n, k)
		cp, next = ix.cps.at(i), after
		if i+1 < k {
			next = ix.cps.at(i + 1)
		}
		return cp, next, nil
	}
	err = ix.guard(func() error {
		i := ix.cps.search(n, k)
		chunk, first, ok := ix.checkedChunk(i, scratch)
		if !ok {
			return ErrIndexChanged
		}
		cp, next = chunk.at(i-first), after
		if i+1 < k {
			if i+1-first == chunk.len() {
				if chunk, first, ok = ix.checkedChunk(i+1, scratch); !ok {
					return ErrIndexChanged
				}
			}
			next = chunk.at(i + 1 - first)
		}
		if cp.line > n || n >= next.line {
			return ErrIndexChanged
		}
		return nil
	})
	return cp, next, err
}

// entry returns checkpoint i of ix's own table, checked if it is mapped.
func (ix *Index) entry(i int) (checkpoint, error) {
	if ix.m == nil {
		return ix.cps.at(i), nil
	}
	var c checkpoint
	var buf [sumLen]byte
	err := ix.guard(func() error {
		chunk, first, ok := ix.checkedChunk(i, buf[:])
		if !ok {
			return ErrIndexChanged
		}
		c = chunk.at(i - first)
		return nil
	})
	return c, err
}

// lastCheckpoint returns the checkpoint before the sentinel.
func (ix *Index) lastCheckpoint() (checkpoint, error) {
	k := ix.cps.len()
	switch {
	case ix.base != nil && k >= 2:
		return ix.cps.at(k - 2), nil
	case ix.base != nil:
		return ix.base.entry(ix.prefix - 1)
	case k < 2:
		return checkpoint{}, corrupt("no checkpoint before the sentinel")
	}
	return ix.entry(k - 2)
}

// extendedTable returns the table of an index that extends ix, in the
// heap, with room for more checkpoints: its own table without the sentinel
// (a copy), on the same base, and the first checkpoints of that base.
func (ix *Index) extendedTable(more int) (base *Index, prefix int, own []byte) {
	if ix.base == nil {
		return ix, ix.cps.len() - 1, make([]byte, 0, more*entryLen)
	}
	n := len(ix.cps) - entryLen
	return ix.base, ix.prefix, append(make([]byte, 0, n+more*entryLen), ix.cps[:n]...)
}
