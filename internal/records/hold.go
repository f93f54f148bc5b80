package records

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/seatline/seatline/pkg/events"
)

// hold keeps the records of a gzip member (or zstd/bzip2 stream) until its
// checksum is known, in order. In memory up to a limit; past it, in a
// temporary file, so a large member costs disk, not memory. Only records
// the pre-filter kept (and dead letters) are held: in an audit stream that
// is a few percent of the bytes.
type hold struct {
	limit int
	dir   string
	recs  []Record // Data owned by the hold
	bytes int
	file  *os.File // every record held since the limit was passed
	w     *bufio.Writer
	n     int // records in file
	buf   []byte
}

func (h *hold) len() int { return len(h.recs) + h.n }

// add copies r into the hold.
func (h *hold) add(r *Record) error {
	if h.file == nil && h.bytes+len(r.Data) <= h.limit {
		c := *r
		c.Data = append([]byte(nil), r.Data...)
		h.recs = append(h.recs, c)
		h.bytes += len(c.Data) + 128
		return nil
	}
	if h.file == nil {
		f, err := os.CreateTemp(h.dir, "seatline-held-*")
		if err != nil {
			return fmt.Errorf("records: holding a member's records on disk: %w", err)
		}
		// Unlinked at once: the space is freed whatever happens to the process.
		os.Remove(f.Name())
		h.file, h.w = f, bufio.NewWriterSize(f, 256<<10)
		for i := range h.recs {
			if err := h.write(&h.recs[i]); err != nil {
				return err
			}
		}
		h.recs, h.bytes = h.recs[:0], 0
	}
	return h.write(r)
}

func (h *hold) write(r *Record) error {
	b := h.buf[:0]
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendVarint(b, r.Line)
	b = binary.AppendVarint(b, int64(r.Index))
	b = binary.AppendVarint(b, r.Length)
	b = append(b, r.SHA256[:]...)
	reason, detail, field := "", "", ""
	if r.Fault != nil {
		reason, detail, field = string(r.Fault.Reason), r.Fault.Detail, r.Fault.Field
	}
	for _, s := range []string{reason, detail, field, r.DocumentID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	h.buf = b
	if _, err := h.w.Write(b); err != nil {
		return fmt.Errorf("records: holding a member's records on disk: %w", err)
	}
	if _, err := h.w.Write(r.Data); err != nil {
		return fmt.Errorf("records: holding a member's records on disk: %w", err)
	}
	h.n++
	return nil
}

// drain hands every held record to fn in order and empties the hold.
func (h *hold) drain(fn func(*Record)) error {
	if h.file != nil {
		if err := h.drainFile(fn); err != nil {
			return err
		}
	}
	for i := range h.recs {
		fn(&h.recs[i])
		h.recs[i] = Record{}
	}
	h.recs, h.bytes = h.recs[:0], 0
	return nil
}

func (h *hold) drainFile(fn func(*Record)) error {
	defer h.close()
	if err := h.w.Flush(); err != nil {
		return fmt.Errorf("records: reading held records back: %w", err)
	}
	if _, err := h.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("records: reading held records back: %w", err)
	}
	br := bufio.NewReaderSize(h.file, 256<<10)
	var r Record
	var data []byte
	for range h.n {
		var err error
		r = Record{}
		if r.Seq, err = binary.ReadUvarint(br); err != nil {
			return fmt.Errorf("records: reading held records back: %w", err)
		}
		var idx int64
		for _, v := range []*int64{&r.Line, &idx, &r.Length} {
			if *v, err = binary.ReadVarint(br); err != nil {
				return fmt.Errorf("records: reading held records back: %w", err)
			}
		}
		r.Index = int(idx)
		if _, err := io.ReadFull(br, r.SHA256[:]); err != nil {
			return fmt.Errorf("records: reading held records back: %w", err)
		}
		var strs [4]string
		for i := range strs {
			b, err := readBytes(br, nil)
			if err != nil {
				return err
			}
			strs[i] = string(b)
		}
		if strs[0] != "" {
			r.Fault = &events.InvalidError{Reason: events.Reason(strs[0]), Detail: strs[1], Field: strs[2]}
		}
		r.DocumentID = strs[3]
		if data, err = readBytes(br, data[:0]); err != nil {
			return err
		}
		r.Data = data
		fn(&r)
	}
	return nil
}

func readBytes(br *bufio.Reader, dst []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err == nil && n > maxMaxBytes+MaxKept {
		err = fmt.Errorf("length %d", n)
	}
	if err != nil {
		return nil, fmt.Errorf("records: reading held records back: %w", err)
	}
	if uint64(cap(dst)) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if _, err := io.ReadFull(br, dst); err != nil {
		return nil, fmt.Errorf("records: reading held records back: %w", err)
	}
	return dst, nil
}

// close drops whatever is held.
func (h *hold) close() {
	if h.file == nil && len(h.recs) == 0 {
		return
	}
	if h.file != nil {
		h.file.Close()
		h.file, h.w, h.n = nil, nil, 0
	}
	clear(h.recs)
	h.recs, h.bytes = h.recs[:0], 0
}
