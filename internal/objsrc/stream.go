package objsrc

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/seatline/seatline/internal/flagval"
	"github.com/seatline/seatline/internal/source"
)

// Modes of a bucket source.
const (
	ModeFollow   = "follow"   // poll for new objects, forever
	ModeBackfill = "backfill" // read a date range (or the whole prefix) once, then end
)

// Stream is how a bucket of GitHub's audit-log stream is read: the flags
// every bucket source (S3, Azure Blob, GCS) has under its own prefix
// (--s3-mode, --azblob-mode, --gcs-mode …), declared once here, and the
// common --shard, --since and --until.
type Stream struct {
	Mode         string        // follow or backfill
	PollInterval time.Duration // follow: between listings
	// Lookback: follow mode lists again from this long before the newest
	// key seen, for objects that appear late with an earlier key (keys
	// within a minute sort by a random UUID). Objects already done are
	// skipped by their checkpoint.
	Lookback    time.Duration
	Concurrency int // objects downloaded at once

	prefix string
	common *source.Common
}

// NewStream is a Stream with the defaults the flags show, reading the
// common flags from common (nil: none given).
func NewStream(prefix string, common *source.Common) Stream {
	if common == nil {
		common = &source.Common{}
	}
	return Stream{Mode: ModeFollow, PollInterval: 30 * time.Second, Lookback: time.Hour, Concurrency: 4, prefix: prefix, common: common}
}

func (s *Stream) pollFlag() flagval.Duration {
	return flagval.Duration{Name: s.prefix + "-poll-interval", Min: 100 * time.Millisecond, Max: 24 * time.Hour}
}
func (s *Stream) lookbackFlag() flagval.Duration {
	return flagval.Duration{Name: s.prefix + "-lookback", Min: 0, Max: 7 * 24 * time.Hour}
}
func (s *Stream) concurrencyFlag() flagval.Int {
	return flagval.Int{Name: s.prefix + "-concurrency", Min: 1, Max: 64}
}

// RegisterFlags binds the stream flags under the prefix, with the defaults.
func (s *Stream) RegisterFlags(fs *flag.FlagSet) {
	d := NewStream(s.prefix, nil)
	poll, look, conc := s.pollFlag(), s.lookbackFlag(), s.concurrencyFlag()
	fs.StringVar(&s.Mode, s.prefix+"-mode", d.Mode, "follow: poll for new objects for ever; backfill: read --since..--until once, then exit 0")
	fs.DurationVar(&s.PollInterval, poll.Name, d.PollInterval, poll.Usage("follow mode: time between listings"))
	fs.DurationVar(&s.Lookback, look.Name, d.Lookback, look.Usage("follow mode: list again from this long before the newest key seen (late objects)"))
	fs.IntVar(&s.Concurrency, conc.Name, d.Concurrency, conc.Usage("objects downloaded and read at once"))
}

// CheckValues names the first stream value that is malformed or out of
// range; it requires nothing.
func (s *Stream) CheckValues() error {
	switch s.Mode {
	case ModeFollow, ModeBackfill:
	default:
		return fmt.Errorf("%s-mode: must be follow or backfill, got %q", s.prefix, s.Mode)
	}
	if err := flagval.First(s.pollFlag().Check(s.PollInterval), s.lookbackFlag().Check(s.Lookback), s.concurrencyFlag().Check(s.Concurrency)); err != nil {
		return err
	}
	_, err := ParseShard(s.common.Shard)
	return err
}

// Validate is CheckValues and the date range (--until only in a backfill).
func (s *Stream) Validate() error {
	if err := s.CheckValues(); err != nil {
		return err
	}
	_, _, err := s.days()
	return err
}

func (s *Stream) days() (Days, bool, error) {
	if s.common.Until != "" && s.Mode != ModeBackfill {
		return Days{}, false, fmt.Errorf("until: only for a backfill (--%s-mode backfill; follow mode never ends)", s.prefix)
	}
	return ParseDays(s.common.Since, s.common.Until, time.Now())
}

// Read is how the engine reads a bucket whose GitHub keys sit under dir (""
// or ending in "/"): the engine's Options, and the day prefixes a backfill
// with --since lists (nil: list all of dir). The stream must be valid.
func (s *Stream) Read(kind, checkpoint, dir string) (Options, []string) {
	shard, _ := ParseShard(s.common.Shard)
	opts := Options{
		Kind: kind, Checkpoint: checkpoint,
		Follow: s.Mode == ModeFollow, PollInterval: s.PollInterval, Lookback: s.Lookback,
		Concurrency: s.Concurrency, Shard: shard,
	}
	days, ok, _ := s.days()
	if !ok {
		return opts, nil
	}
	if opts.Follow {
		opts.StartAfter = dir + days.Since.Format("2006/01/02/")
		return opts, nil
	}
	return opts, days.Prefixes(dir)
}

// Describe is what start-up logs about the stream.
func (s *Stream) Describe() []any {
	shard := s.common.Shard
	if shard == "" {
		shard = "0/1"
	}
	return []any{"mode", s.Mode, "since", s.common.Since, "until", s.common.Until, "concurrency", s.Concurrency, "shard", shard}
}

// Dir is a key prefix as a directory: "" or ending in "/" ("audit" and
// "audit/" are the same).
func Dir(prefix string) string {
	p := strings.TrimLeft(prefix, "/")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}
