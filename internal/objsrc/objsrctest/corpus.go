package objsrctest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seatline/seatline/internal/auditgen"
)

// Expect is what the timeline and the dead letters must hold.
type Expect struct {
	SeatIDs   map[string]bool
	Malformed int // dead letters
}

func NewExpect() *Expect { return &Expect{SeatIDs: map[string]bool{}} }

// Record adds what a generated line must give.
func (e *Expect) Record(r auditgen.Record) {
	switch r.Kind {
	case auditgen.KindSeat, auditgen.KindDuplicate:
		e.SeatIDs[r.DocumentID] = true
	case auditgen.KindMalformed:
		e.Malformed++
	}
}

// Object is one generated object of GitHub's stream.
type Object struct {
	Key   string
	Lines [][]byte
	Body  []byte // gzipped NDJSON
}

// GenObjects makes n objects of perObject lines each, keyed as GitHub
// does (YYYY/MM/DD/HH/mm/<uuid>.json.log.gz), one minute apart from start.
func GenObjects(prefix string, n, perObject int, seed int64, start time.Time, seatFraction float64, exp *Expect) []Object {
	g := auditgen.New(auditgen.Config{Seed: seed, SeatFraction: seatFraction, DuplicateFraction: 0.02, MalformedFraction: 0.002,
		Start: start, Step: time.Minute / time.Duration(perObject)})
	out := make([]Object, 0, n)
	for i := range n {
		o := Object{Key: GitHubKey(prefix, start.Add(time.Duration(i)*time.Minute), seed, i)}
		for range perObject {
			r := g.Next()
			exp.Record(r)
			o.Lines = append(o.Lines, r.Line)
		}
		o.Body = GzipLines(o.Lines)
		out = append(out, o)
	}
	return out
}

// GitHubKey is a key as GitHub's streaming writes it, its UUID made from
// seed and i.
func GitHubKey(prefix string, t time.Time, seed int64, i int) string {
	h := fnv.New128a()
	fmt.Fprintf(h, "%d/%d", seed, i)
	u := h.Sum(nil)
	return fmt.Sprintf("%s%s/%x-%x-%x-%x-%x.json.log.gz", prefix, t.UTC().Format("2006/01/02/15/04"), u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// NDJSON joins lines, each ended by a newline.
func NDJSON(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Gzip compresses p as one gzip member.
func Gzip(p []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(p)
	zw.Close()
	return b.Bytes()
}

// GzipLines is the gzipped NDJSON of lines, as GitHub writes an object.
func GzipLines(lines [][]byte) []byte { return Gzip(NDJSON(lines)) }

// lineLog remembers every line the corpus generators made, by content.
type lineLog struct {
	mu sync.Mutex
	m  map[string]auditgen.Record
}

var generated = lineLog{m: map[string]auditgen.Record{}}

func (l *lineLog) add(r auditgen.Record) {
	l.mu.Lock()
	l.m[string(r.Line)] = r
	l.mu.Unlock()
}

func (l *lineLog) get(line []byte) auditgen.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[string(line)]
}

// linesOf generates n lines, records what they must give, and marks the
// malformed ones as dead letters at key/line.
func linesOf(g *auditgen.Generator, n int, key string, exp *Expect, dead map[string]string) [][]byte {
	var out [][]byte
	for i := range n {
		r := g.Next()
		generated.add(r)
		exp.Record(r)
		if r.Kind == auditgen.KindMalformed {
			dead[key+"/"+strconv.Itoa(i+1)] = "?"
		}
		out = append(out, r.Line)
	}
	return out
}

func splitPos(pos string) (string, int, bool) {
	i := strings.LastIndexByte(pos, '/')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(pos[i+1:])
	return pos[:i], n, err == nil
}
