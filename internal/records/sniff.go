package records

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// sniffLen is how much of a unit's head is looked at: enough for every
// magic number below (tar's is at offset 257) and the text heuristics.
const sniffLen = 1024

// codec names a compression this package reads.
type codec uint8

const (
	codecNone codec = iota
	codecGzip
	codecZstd
	codecBzip2
)

func (c codec) String() string {
	return [...]string{"", "gzip", "zstd", "bzip2"}[c]
}

// magic is a format recognised by its first bytes.
type magic struct {
	name   string
	prefix string
	offset int
	codec  codec // codecNone: recognised, not supported
}

// magics: compressions read, then formats recognised and refused. Binary
// formats GitHub never writes are named so the dead letter says what the
// operator pointed seatline at.
var magics = []magic{
	{name: "gzip", prefix: "\x1f\x8b", codec: codecGzip},
	{name: "zstd", prefix: "\x28\xb5\x2f\xfd", codec: codecZstd},
	{name: "bzip2", prefix: "BZh", codec: codecBzip2},
	{name: "zip archive", prefix: "PK\x03\x04"},
	{name: "zip archive (empty)", prefix: "PK\x05\x06"},
	{name: "zip archive (spanned)", prefix: "PK\x07\x08"},
	{name: "xz", prefix: "\xfd7zXZ\x00"},
	{name: "7z archive", prefix: "7z\xbc\xaf\x27\x1c"},
	{name: "rar archive", prefix: "Rar!\x1a\x07"},
	{name: "lz4", prefix: "\x04\x22\x4d\x18"},
	{name: "lzip", prefix: "LZIP"},
	{name: "Unix compress (.Z)", prefix: "\x1f\x9d"},
	{name: "snappy (framed)", prefix: "\xff\x06\x00\x00sNaPpY"},
	{name: "lzma", prefix: "\x5d\x00\x00"},
	{name: "tar archive", prefix: "ustar", offset: 257},
	{name: "Parquet", prefix: "PAR1"},
	{name: "Avro container", prefix: "Obj\x01"},
	{name: "PDF document", prefix: "%PDF-"},
	{name: "PNG image", prefix: "\x89PNG\r\n\x1a\n"},
}

// sniffMagic returns the format whose magic head starts with, if any.
func sniffMagic(head []byte) (magic, bool) {
	if len(head) > 0 && (head[0] == '{' || head[0] == '[') {
		return magic{}, false // JSON text, the common case: no magic starts so
	}
	for _, m := range magics {
		if len(head) >= m.offset+len(m.prefix) && string(head[m.offset:m.offset+len(m.prefix)]) == m.prefix {
			if m.codec == codecBzip2 && (len(head) < 4 || head[3] < '1' || head[3] > '9') {
				continue // "BZh" + block size digit
			}
			return m, true
		}
	}
	return magic{}, false
}

// encoding of a unit's (decompressed) text.
type encoding uint8

const (
	encUTF8 encoding = iota
	encUTF8BOM
	encUTF16LE // with a BOM
	encUTF16BE // with a BOM
	encUTF16LENoBOM
	encUTF16BENoBOM
	encUTF32 // refused
	encBinary
)

func (e encoding) String() string {
	return [...]string{"UTF-8", "UTF-8 with BOM", "UTF-16LE", "UTF-16BE", "UTF-16LE without BOM",
		"UTF-16BE without BOM", "UTF-32", "binary"}[e]
}

// bomLen is how many bytes of the head are the byte-order mark.
func (e encoding) bomLen() int {
	switch e {
	case encUTF8BOM:
		return 3
	case encUTF16LE, encUTF16BE:
		return 2
	}
	return 0
}

func (e encoding) utf16() (ok, bigEndian bool) {
	switch e {
	case encUTF16LE, encUTF16LENoBOM:
		return true, false
	case encUTF16BE, encUTF16BENoBOM:
		return true, true
	}
	return false, false
}

// sniffEncoding tells how a unit's text is encoded from its head. A byte
// order mark decides; without one, JSON text starts with '{', '[' or
// whitespace, so an ASCII byte beside a NUL is UTF-16 (or UTF-32). A head
// that does not start like JSON and is mostly not text is binary: one
// dead letter for the unit rather than one per "line" of noise. A JSON
// head with a stray NUL or a bad byte later on is text: the records it
// spoils become dead letters one by one, and their neighbours are kept.
func sniffEncoding(head []byte) encoding {
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xfe\x00\x00")), bytes.HasPrefix(head, []byte("\x00\x00\xfe\xff")):
		return encUTF32
	case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")):
		return encUTF8BOM
	case bytes.HasPrefix(head, []byte("\xff\xfe")):
		return encUTF16LE
	case bytes.HasPrefix(head, []byte("\xfe\xff")):
		return encUTF16BE
	}
	if len(head) >= 4 {
		switch {
		case jsonStart(head[0]) && head[1] == 0 && head[2] == 0 && head[3] == 0,
			head[0] == 0 && head[1] == 0 && head[2] == 0 && jsonStart(head[3]):
			return encUTF32
		case jsonStart(head[0]) && head[1] == 0 && head[3] == 0:
			return encUTF16LENoBOM
		case head[0] == 0 && jsonStart(head[1]) && head[2] == 0:
			return encUTF16BENoBOM
		}
	}
	i := 0
	for i < len(head) && isSpace(head[i]) {
		i++
	}
	if i < len(head) && (head[i] == '{' || head[i] == '[') {
		return encUTF8
	}
	if notText(head) > len(head)/10 {
		return encBinary
	}
	return encUTF8
}

func jsonStart(c byte) bool { return c == '{' || c == '[' || isSpace(c) }

// notText counts the bytes of b that cannot be in JSON text: control
// characters other than whitespace, and bytes of invalid UTF-8. A sequence
// cut at the end of b is not counted.
func notText(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && !isSpace(c) || c == 0x7f {
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(b[i:]) {
				break
			}
			n++
		}
		i += size
	}
	return n
}

// hexHead renders the first bytes of b for a message.
func hexHead(b []byte) string {
	b = b[:min(len(b), 8)]
	return fmt.Sprintf("% x", b)
}
