package ingest

import (
	"testing"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
)

// BenchmarkAddMixed is the per-message cost of the read loop on a realistic
// mixed stream (2% Copilot), without the source or ClickHouse.
func BenchmarkAddMixed(b *testing.B) {
	g := auditgen.New(auditgen.Config{Seed: 1})
	msgs := make([]Message, 4096)
	bytes := 0
	for i := range msgs {
		msgs[i] = Message{Stream: "t/0", Offset: int64(i), Payload: g.Next().Line}
		bytes += len(msgs[i].Payload)
	}
	p, err := New(Config{}, nil, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	p.src = memName{}
	b.SetBytes(int64(bytes / len(msgs)))
	b.ReportAllocs()
	bt := p.newBatch(0)
	bt.started = time.Now()
	for i := 0; i < b.N; i++ {
		if i%4096 == 0 {
			bt = p.newBatch(128)
			bt.started = time.Now()
		}
		p.add(bt, msgs[i%4096])
	}
}

type memName struct{ Source }

func (memName) Name() string { return "bench" }

// BenchmarkAddSeat: the same for a stream of Copilot seat events only.
func BenchmarkAddSeat(b *testing.B) {
	g := auditgen.New(auditgen.Config{Seed: 1, SeatFraction: 1})
	msgs := make([]Message, 4096)
	for i := range msgs {
		msgs[i] = Message{Stream: "t/0", Offset: int64(i), Payload: g.Next().Line}
	}
	p, err := New(Config{}, nil, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	p.src = memName{}
	b.ReportAllocs()
	bt := p.newBatch(0)
	for i := 0; i < b.N; i++ {
		if i%4096 == 0 {
			bt = p.newBatch(4096)
			bt.started = time.Now()
		}
		p.add(bt, msgs[i%4096])
	}
}
