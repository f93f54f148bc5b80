package ingest

import (
	"testing"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
	"github.com/seatline/seatline/internal/records"
	"github.com/seatline/seatline/pkg/events"
)

// benchAdd is the per-message cost of a Kafka source's records stage and
// the pipeline's read loop on a generated stream, without the broker or
// ClickHouse: one event per message, as GitHub's streaming writes them.
func benchAdd(b *testing.B, seatFraction float64, pii PII) {
	g := auditgen.New(auditgen.Config{Seed: 1, SeatFraction: seatFraction})
	payloads := make([][]byte, 4096)
	size := 0
	for i := range payloads {
		payloads[i] = g.Next().Line
		size += len(payloads[i])
	}
	cfg := records.Defaults()
	cfg.Keep = events.MaybeSeatEvent
	dec, err := records.NewDecoder(cfg)
	if err != nil {
		b.Fatal(err)
	}
	pcfg := Defaults()
	pcfg.PII, pcfg.PIISalt = pii, "0123456789abcdef-salt"
	p, err := New(pcfg, nil, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	p.src = memName{}
	b.SetBytes(int64(size / len(payloads)))
	b.ReportAllocs()
	var slab records.Slab
	bt := p.newBatch(0)
	bt.started = time.Now()
	var off int64
	n := 0
	emit := func(r *records.Record) error { // bound once, as kafkasrc does
		n++
		p.add(bt, FromRecord("t/0", off, off, r, slab.Copy(r.Data)))
		return nil
	}
	for i := 0; i < b.N; i++ {
		if i%4096 == 0 {
			bt = p.newBatch(len(bt.rows))
			bt.started = time.Now()
		}
		off, n = int64(i), 0
		dec.DecodeBytes(payloads[i%4096], emit)
		if n == 0 {
			p.add(bt, Message{Stream: "t/0", Offset: off, Unit: off})
		}
	}
}

type memName struct{ Source }

func (memName) Name() string { return "bench" }

// BenchmarkAddMixed: a realistic mixed stream (2% Copilot).
func BenchmarkAddMixed(b *testing.B) { benchAdd(b, 0, PIIKeep) }

// BenchmarkAddSeat: a stream of Copilot seat events only.
func BenchmarkAddSeat(b *testing.B) { benchAdd(b, 1, PIIKeep) }

// BenchmarkAddSeatPIIHash: the same with --pii hash (BenchmarkScrubHash
// is the scrub alone).
func BenchmarkAddSeatPIIHash(b *testing.B) { benchAdd(b, 1, PIIHash) }
