package objsrc

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/source"
)

func TestStreamFlagsAndChecks(t *testing.T) {
	for _, prefix := range []string{"s3", "azblob", "gcs"} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		s := NewStream(prefix, &source.Common{})
		s.RegisterFlags(fs)
		for _, name := range []string{"-mode", "-poll-interval", "-lookback", "-concurrency"} {
			if fs.Lookup(prefix+name) == nil {
				t.Errorf("--%s%s not registered", prefix, name)
			}
		}
		if s.Mode != ModeFollow || s.Concurrency != 4 || s.PollInterval != 30*time.Second || s.Lookback != time.Hour {
			t.Errorf("defaults: %+v", s)
		}
		for _, tc := range []struct {
			set   func(s *Stream)
			field string
		}{
			{func(s *Stream) { s.Mode = "tail" }, prefix + "-mode"},
			{func(s *Stream) { s.Mode = ModeBackfill; s.common.Since = "yesterday" }, "since"},
			{func(s *Stream) { s.Mode = ModeBackfill; s.common.Until = "2026-11-01" }, "until: needs --since"},
			{func(s *Stream) { s.Mode = ModeBackfill; s.common.Since, s.common.Until = "2026-11-02", "2026-11-01" }, "until"},
			{func(s *Stream) { s.common.Since, s.common.Until = "2026-11-01", "2026-11-02" }, "until: only for a backfill (--" + prefix + "-mode backfill"},
			{func(s *Stream) { s.Concurrency = 65 }, prefix + "-concurrency"},
			{func(s *Stream) { s.Concurrency = 0 }, prefix + "-concurrency"},
			{func(s *Stream) { s.PollInterval = 0 }, prefix + "-poll-interval"},
			{func(s *Stream) { s.common.Shard = "2/2" }, "shard"},
			{func(s *Stream) { s.Lookback = -time.Second }, prefix + "-lookback"},
		} {
			s := NewStream(prefix, &source.Common{})
			tc.set(&s)
			if err := s.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.field) {
				t.Errorf("%s: %v, want an error starting %q", tc.field, err, tc.field)
			}
		}
	}
}

func TestStreamRead(t *testing.T) {
	s := NewStream("gcs", &source.Common{Since: "2026-11-01", Until: "2026-11-02", Shard: "1/3"})
	s.Mode = ModeBackfill
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	opts, days := s.Read("gcs", "gcs:b/audit/", Dir("/audit"))
	if opts.Follow || opts.Shard != (Shard{1, 3}) || opts.Kind != "gcs" || opts.Checkpoint != "gcs:b/audit/" {
		t.Errorf("options %+v", opts)
	}
	if strings.Join(days, " ") != "audit/2026/11/01/ audit/2026/11/02/" {
		t.Errorf("days %q", days)
	}
	s.Mode, s.common.Until = ModeFollow, ""
	opts, days = s.Read("gcs", "gcs:b/", "")
	if !opts.Follow || days != nil || opts.StartAfter != "2026/11/01/" {
		t.Errorf("follow: %+v %q", opts, days)
	}
}
