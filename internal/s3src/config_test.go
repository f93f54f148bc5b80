package s3src

import (
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/source"
)

func TestConfigValidate(t *testing.T) {
	c := Defaults()
	c.Stream = objsrc.NewStream("s3", &source.Common{Since: "2026-11-01", Until: "2026-11-03"})
	c.Bucket, c.Prefix, c.Mode = "b", "/audit", objsrc.ModeBackfill
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
		{func(c *Config) { c.Concurrency = 65 }, "s3-concurrency"},
		{func(c *Config) { c.Endpoint = "http://minio:99999" }, "s3-endpoint"},
		{func(c *Config) { c.Region = "eu west 1" }, "s3-region"},
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
