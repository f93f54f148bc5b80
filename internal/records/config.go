package records

import (
	"flag"
	"fmt"

	"github.com/seatline/seatline/internal/flagval"
)

// Limits that hold for every record, whatever its framing.
const (
	DefaultMaxBytes = 1 << 20 // GitHub's audit events are well under 10 KiB
	DefaultMaxDepth = 100     // GitHub's events nest 3 or 4 levels
	maxMaxBytes     = 64 << 20
	maxMaxDepth     = 10000
	// DefaultHoldBytes: records of a not yet verified gzip member (or a
	// whole zstd/bzip2 stream) are held in memory up to this many bytes,
	// then spilled to a temporary file.
	DefaultHoldBytes = 4 << 20
)

// Config of a Decoder.
type Config struct {
	MaxBytes int // a larger record is an oversize dead letter
	MaxDepth int // deeper nesting is a too_deep dead letter
	// Keep is the byte pre-filter: records it rejects are counted as
	// filtered and never emitted. nil keeps every record. It only ever sees
	// readable text (valid UTF-8) that starts with '{'.
	Keep func(rec []byte) bool
	// HoldBytes bounds the memory of records awaiting their member's
	// checksum; past it they are spilled to a file in TempDir.
	HoldBytes int
	TempDir   string // "" is os.TempDir()
	// Counted, when set, is told how many records were read and how many
	// of them the pre-filter dropped: at the end of every unit and every
	// 4096 records within one.
	Counted func(read, filtered int64)
}

// Defaults are the values the flags show.
func Defaults() Config {
	return Config{MaxBytes: DefaultMaxBytes, MaxDepth: DefaultMaxDepth, HoldBytes: DefaultHoldBytes}
}

// The limits' flags and ranges.
var (
	maxBytesFlag = flagval.Int{Name: "max-event-bytes", Min: 1, Max: maxMaxBytes}
	maxDepthFlag = flagval.Int{Name: "max-event-depth", Min: 1, Max: maxMaxDepth}
)

// RegisterFlags binds the limits to fs with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := Defaults()
	fs.IntVar(&c.MaxBytes, maxBytesFlag.Name, d.MaxBytes, maxBytesFlag.Usage("a larger event (line, array element or message) is a dead letter, in bytes"))
	fs.IntVar(&c.MaxDepth, maxDepthFlag.Name, d.MaxDepth, maxDepthFlag.Usage("an event nested deeper is a dead letter, in levels"))
	c.HoldBytes = d.HoldBytes
}

// Validate checks the limits; it changes nothing.
func (c *Config) Validate() error {
	if err := maxBytesFlag.Check(c.MaxBytes); err != nil {
		return err
	}
	if err := maxDepthFlag.Check(c.MaxDepth); err != nil {
		return err
	}
	if c.HoldBytes < 0 {
		return fmt.Errorf("records: HoldBytes must not be negative, got %d", c.HoldBytes)
	}
	return nil
}
