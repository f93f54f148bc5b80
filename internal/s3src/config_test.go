package s3src

import (
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/source"
)

func TestConfigValidate(t *testing.T) {
	c := Defaults()
	c.Bucket, c.Prefix, c.Mode = "b", "/audit", ModeBackfill
	c.common = &source.Common{Since: "2026-11-01", Until: "2026-11-03"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SourceName() != "s3:b/audit/" || c.Concurrency != 4 || c.PollInterval != 30*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		set   func(c *Config)
		field string
	}{
		{func(c *Config) { c.Bucket = "" }, "s3-bucket: required with --source s3"},
		{func(c *Config) { c.Bucket = "a/b" }, "s3-bucket"},
		{func(c *Config) { c.Endpoint = "localhost:9000" }, "s3-endpoint"},
		{func(c *Config) { c.Mode = "tail" }, "s3-mode"},
		{func(c *Config) { c.Mode = ModeBackfill; c.common.Since = "yesterday" }, "since"},
		{func(c *Config) { c.Mode = ModeBackfill; c.common.Until = "2026-11-01" }, "until: needs --since"},
		{func(c *Config) { c.Mode = ModeBackfill; c.common.Since, c.common.Until = "2026-11-02", "2026-11-01" }, "until"},
		{func(c *Config) { c.common.Since, c.common.Until = "2026-11-01", "2026-11-02" }, "until: only for a backfill"},
		{func(c *Config) { c.Concurrency = 65 }, "s3-concurrency"},
		{func(c *Config) { c.Concurrency = 0 }, "s3-concurrency"},
		{func(c *Config) { c.PollInterval = 0 }, "s3-poll-interval"},
		{func(c *Config) { c.common.Shard = "2/2" }, "shard"},
		{func(c *Config) { c.Endpoint = "http://minio:99999" }, "s3-endpoint"},
		{func(c *Config) { c.Region = "eu west 1" }, "s3-region"},
		{func(c *Config) { c.Lookback = -time.Second }, "s3-lookback"},
	} {
		c := Defaults()
		c.Bucket = "b"
		tc.set(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an error starting %q", tc.field, err, tc.field)
		}
	}
}

func TestEndpointPasswordNotEchoed(t *testing.T) {
	c := Defaults()
	c.Bucket, c.Endpoint = "b", "ftp://user:s3cret@minio:9000"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v", err)
	}
}
