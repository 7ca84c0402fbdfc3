// Package zframe decompresses zstd files once to index them, and reads them
// later from the start of a frame, so that byte N of a huge .zst file can be
// served without decompressing everything before it.
//
// A zstd file is a sequence of frames (RFC 8878). A frame cannot be entered
// in the middle: its blocks refer back to its earlier output and carry
// entropy tables from block to block. But each frame decodes on its own,
// so frame starts are the places to restart, and a Frame records one: its
// byte offset in the file, and the offset and length of its output. How
// many there are depends on the writer. pzstd and the seekable format
// (contrib/seekable_format: frames of bounded size, then a seek table in a
// skippable frame) write many; zstd FILE writes one for the whole file,
// and then every read starts at the beginning of the file.
//
// Frame boundaries are found without decoding. A frame is a header (magic
// number, Frame_Header_Descriptor, optional Window_Descriptor,
// Dictionary_ID and Frame_Content_Size), then blocks, each a 3-byte header
// (Last_Block, Block_Type, Block_Size) and Block_Size bytes of data (one
// byte for an RLE block), then a 4-byte checksum if the header says so. A
// walker parses the frame header and the block headers as the bytes go
// by, checks them (no dictionary, a window within the limit, no reserved
// block type, no block over min(128 KiB, window)), and hands the frame's
// bytes, and only those, to github.com/klauspost/compress/zstd, which does
// the decoding. When the last block and the checksum have gone by, the
// walker says end of file, so the decoder cannot read into the next frame;
// skippable frames (magic 0x184D2A50..5F), the seekable format's seek table
// among them, are skipped by us and never reach it. The seek table is not
// checked against the frames: Scan finds the frames itself, and nothing
// depends on the table.
//
// The klauspost decoder is reset for each frame and runs in its
// synchronous streaming mode (concurrency 1): it decodes on the caller's
// goroutine, starts no goroutine that could leak, reads exactly the bytes
// it needs, and keeps the window in a ring of window + two blocks however
// long the frame is. DecodeAll, the other way to decode synchronously,
// needs the frame's whole output in memory, which a single-frame file of
// many GiB does not allow. The decoder verifies block contents, the
// content checksum (by default) and the declared content size; we check
// the content size again and that the frame ended where its block headers
// said. Its window limit is set to maxWindow, but the walker refuses a
// larger window first, with a message that names the sizes. So memory is
// bounded by maxWindow, a few 128 KiB block buffers and a 64 KiB input
// buffer (reads of whole blocks bypass it), whatever the input: a bomb of
// GiBs of zeros in a few KiB streams through that. The ring is allocated
// at the size the frame declares, when its first block comes: a frame
// costs its window even when its content is smaller.
//
// Time is another matter: a frame of GiBs of zeros decodes at GiB/s, and a
// reader that needs its last byte must decode the rest. Scan's maxFrame
// bounds the content of a frame, and so the work of entering the file at
// any frame: a frame that declares more is refused from its header, one
// that does not once its output passes the limit.
//
// Scan's output goes to its callback straight from the decoder's history
// ring (klauspost's WriteTo), without a copy. A Reader does the same walk
// from a frame start over an io.ReaderAt, and checks the same things; it
// reuses its decoder across Reset, and passes over skippable frames
// without reading them.
package zframe
