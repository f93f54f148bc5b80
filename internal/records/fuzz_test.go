package records

import (
	"bytes"
	"compress/gzip"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/seatline/seatline/internal/records/recordstest"
	"github.com/seatline/seatline/pkg/events"
)

// FuzzRecords: whatever the bytes, the records stage never panics; every
// way of reading them (in memory, whole, byte by byte, in halves, and
// gzipped) gives the same records; Seq only grows; a kept record is
// readable text within the limits; a dead letter has a reason and keeps at
// most MaxKept bytes.
func FuzzRecords(f *testing.F) {
	for _, c := range recordstest.Hostile() {
		if len(c.Data) < 64<<10 {
			f.Add(c.Data)
		}
	}
	for _, s := range []string{
		"[", "]", "[,]", "[[[[", "{\n", "{\"a\":\"\n\"}\n{}", "[{},{}] [1] x", "\xef\xbb\xbf[]",
		"\xff\xfe{\x00}\x00", "\xfe\xff\x00[\x00]", "{\"a\":[1,2}]", "\"]\",[", "{}\r\n\r\n{}",
	} {
		f.Add([]byte(s))
	}
	cfg := Defaults()
	cfg.MaxBytes, cfg.MaxDepth, cfg.HoldBytes = 64, 8, 256
	cfg.Keep = events.MaybeSeatEvent
	f.Fuzz(func(t *testing.T, in []byte) {
		first, sum := decode(t, cfg, modes[0], in)
		for _, m := range modes[1:] {
			g, s := decode(t, cfg, m, in)
			if !slices.Equal(g, first) || s != sum {
				t.Fatalf("%s disagrees with %s:\n%v %+v\nvs\n%v %+v", m.name, modes[0].name, g, s, first, sum)
			}
		}
		var seq uint64
		for _, r := range first {
			if r.Seq <= seq {
				t.Fatalf("Seq %d after %d", r.Seq, seq)
			}
			seq = r.Seq
			if r.Reason == "" {
				if len(r.Data) == 0 || len(r.Data) > cfg.MaxBytes || !utf8.ValidString(r.Data) || unreadable([]byte(r.Data)) != nil {
					t.Fatalf("kept record %q is not readable text within the limits", r.Data)
				}
				if depthOf([]byte(r.Data)) > cfg.MaxDepth {
					t.Fatalf("kept record %q nests deeper than %d", r.Data, cfg.MaxDepth)
				}
				continue
			}
			if len(r.Data) > MaxKept || int64(len(r.Data)) > r.Length && r.Reason != "unsupported_format" {
				t.Fatalf("dead letter %v keeps %d bytes of %d", r, len(r.Data), r.Length)
			}
		}
		if sum.Records < seq || sum.Records != uint64(len(first))+sum.Filtered {
			t.Fatalf("summary %+v for %d records", sum, len(first))
		}
		// Gzipped, the same text gives the same records (unless the text
		// itself looks compressed or is not text: then it is refused
		// inside the gzip layer, which is another message).
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(in)
		w.Close()
		gz, gsum := decode(t, cfg, modes[1], z.Bytes())
		if _, compressed := sniffMagic(in); !compressed && sum.Damage == "" && (!slices.Equal(gz, first) || gsum != sum) {
			t.Fatalf("gzipped:\n%v %+v\nplain:\n%v %+v", gz, gsum, first, sum)
		}
	})
}
