// Package inflate decompresses gzip files once to index them, and reads
// them later from places recorded on the way, so that byte N of a huge .gz
// file can be served without decompressing everything before it.
//
// Scan is a deflate decoder of our own (RFC 1951, 1952). Deflate output
// depends on up to 32 KiB of earlier output and blocks need not start on a
// byte boundary, so a place to restart is an access point: the bit offset
// of a block header, the output offset there, and the 32 KiB of output
// before it (the window). Scan records one at the first block boundary (or
// member start) after every so many bytes of output. It checks everything
// a gzip file carries (headers, deflate data, CRC-32 and length of each
// member) and streams the output through a 256 KiB sliding buffer, so its
// memory does not depend on the input. A window is only needed for the
// bytes that matches after its point copy: Scan watches the next 32 KiB of
// output and zeroes the rest, so that a stored window compresses to
// little. It is written for speed: a 64-bit
// bit buffer refilled a word at a time, Huffman tables whose one-word
// entries say what a code means and how long it is, and match copies of 8
// bytes at a time.
//
// Reading restarts compress/flate, not Scan: the stock decoder takes the
// window as its dictionary (flate.NewReaderDict). It cannot start in the
// middle of a byte, and shifting the file by In%8 bits to make it start at
// a byte boundary breaks at the next stored block, whose byte alignment is
// the file's. Instead the Reader puts in front of the file's bytes a few
// bytes of its own: an empty dynamic block sized so that it ends exactly at
// bit In%8 of a byte whose high bits are those of the file's byte In/8. The
// bytes of the file then follow as they are, aligned as in the file.
//
// compress/flate reads no byte before it needs one of its bits when its
// source has a ReadByte method, so the number of bytes it took tells where
// the deflate stream ended, to the byte. Scan cannot know that end when it
// reports a point (the stream goes on), so it reports it when the member's
// stream ends, and the caller puts it in Point.End; the Reader checks that
// the stream from a point ends exactly there. Members after the one a point
// is in are read from their start and checked in full.
package inflate
